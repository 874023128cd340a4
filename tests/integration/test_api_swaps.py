"""Shift swaps through the API on the real stack: a clinician asks for a colleague to
take a shift, the practice administrator approves (the override is made like
``overrides/replace``, with If-Match) or declines, only once; another practice's
administrator sees nothing; the audit holds ids and times, never the note."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest

from engine.practice_files import load_practice_file
from tests.integration.api_client import RunningApi, api_settings, create_account, running_api
from tests.integration.harness import Harness, wait_for

MAPLE = Path(__file__).resolve().parents[2] / "deploy" / "practices" / "maple-pediatrics.yaml"
PASSWORD = "correct horse battery staple"
NOTE = "my daughter's recital"


@pytest.fixture()
async def api(harness: Harness) -> AsyncIterator[RunningApi]:
    async with running_api(api_settings(harness.settings, harness.log_dir)) as running:
        yield running


async def _signed_in(
    api: RunningApi, roles: set[str], practice: str, **extra: Any
) -> dict[str, str]:
    name, secret = await create_account(api.services, "u", roles, {practice}, **extra)
    body = {"username": name, "password": PASSWORD}
    if secret:
        body["totp"] = pyotp.TOTP(secret).now()
    answer = await api.client.post("/v1/auth/sign-in", json=body)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _shifts(api: RunningApi, me: dict[str, str]) -> list[dict[str, Any]]:
    for _ in range(100):  # the API follows the practices topic
        found = (await api.client.get("/v1/app/shifts?days=14", headers=me)).json()
        if found:
            return list(found)
        await asyncio.sleep(0.1)
    raise AssertionError("no shifts")


async def test_a_swap_is_asked_approved_once_and_declined(
    harness: Harness, api: RunningApi
) -> None:
    practice = load_practice_file(MAPLE).practice.model_copy(update={"practice_id": "p-swap"})
    harness.load_practice(practice, [])
    okafor = await _signed_in(api, {"clinician"}, "p-swap", clinician_id="dr-okafor")
    admin = await _signed_in(api, {"practice_admin"}, "p-swap", totp=True)
    stranger = await _signed_in(api, {"practice_admin"}, "p-swap-other", totp=True)
    first, second = (await _shifts(api, okafor))[:2]
    colleague = "dr-castellanos"
    ask = {k: first[k] for k in ("practice_id", "group_id", "role", "start", "end")}

    for wrong, field in (
        ({"with_clinician_id": "dr-okafor"}, "with_clinician_id"),
        ({"with_clinician_id": "dr-nobody"}, "with_clinician_id"),
        ({"with_clinician_id": colleague, "group_id": "no-such-group"}, "group_id"),
        ({"with_clinician_id": colleague, "end": first["start"]}, "end"),
    ):
        refused = await api.client.post(
            "/v1/app/swap-requests", json={**ask, **wrong}, headers=okafor
        )
        assert refused.status_code == 422, wrong
        assert field in refused.text and NOTE not in refused.text
    elsewhere = await api.client.post(
        "/v1/app/swap-requests", json={**ask, "practice_id": "p-swap-other",
                                       "with_clinician_id": colleague}, headers=okafor,
    )  # fmt: skip
    assert elsewhere.status_code == 404

    asked = await api.client.post(
        "/v1/app/swap-requests", json={**ask, "with_clinician_id": colleague, "note": NOTE},
        headers=okafor,
    )  # fmt: skip
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert (request["status"], request["requester_id"]) == ("pending", "dr-okafor")
    other = await api.client.post(
        "/v1/app/swap-requests",
        json={**{k: second[k] for k in ask}, "with_clinician_id": colleague}, headers=okafor,
    )  # fmt: skip
    assert other.status_code == 201

    base = "/v1/admin/practices/p-swap/swap-requests"
    assert (await api.client.get(base, headers=stranger)).status_code == 404
    listed = (await api.client.get(base, headers=admin)).json()
    assert {r["request_id"] for r in listed} == {request["request_id"], other.json()["request_id"]}
    approve = f"{base}/{request['request_id']}/approve"
    assert (await api.client.post(approve, headers=stranger)).status_code == 404
    assert (await api.client.post(approve, headers=admin)).status_code == 428
    etag = (await api.client.get("/v1/admin/practices/p-swap", headers=admin)).headers["etag"]
    approved = await api.client.post(approve, headers={**admin, "If-Match": etag})
    assert approved.status_code == 200, approved.text
    assert approved.json()["request"]["status"] == "approved"
    again = await api.client.post(
        approve, headers={**admin, "If-Match": f'"{approved.json()["revision"]}"'}
    )
    assert again.status_code == 409

    saved = await api.client.get("/v1/admin/practices/p-swap", headers=admin)
    group = next(g for g in saved.json()["coverage_groups"] if g["group_id"] == first["group_id"])
    override = next(o for o in group["overrides"] if o["note"] == f"swap {request['request_id']}")
    assert override["clinician_id"] == colleague and override["kind"] == "replace"
    assert datetime.fromisoformat(override["start"]) == datetime.fromisoformat(first["start"])

    declined = await api.client.post(f"{base}/{other.json()['request_id']}/decline", headers=admin)
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    decided = {
        r["request_id"]: r["status"] for r in (await api.client.get(base, headers=admin)).json()
    }
    assert decided == {request["request_id"]: "approved", other.json()["request_id"]: "declined"}

    def decisions() -> list[Any] | None:
        found = [a for a in harness.read("audit") if a.practice_id == "p-swap"
                 and a.action in ("swap_approved", "swap_declined")]  # fmt: skip
        return found if len(found) == 2 else None

    audit = wait_for(decisions, 15, "the decisions in the audit")
    assert all(request["request_id"] in a.detail or other.json()["request_id"] in a.detail
               for a in audit)  # fmt: skip
    assert sorted(a.action for a in audit) == ["swap_approved", "swap_declined"]
    everything = str([a.model_dump() for a in harness.read("audit")])
    assert "recital" not in everything
