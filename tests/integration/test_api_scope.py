"""Every route of the API, tried by the principals of another practice, with the real ids
of practice A's resources and with guessed and sequential ones. Each attempt must fail
with 403 or 404, the answer for a real id must be the answer for an id that does not
exist, and a list answers nothing of practice A. A route added without a row here fails
this test."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pyotp
import pytest

from engine.api.swap_requests import SwapRequestStore
from engine.domain.schedule import CoverageRole
from engine.domain.swaps import new_request
from engine.standins.virtual_device import VirtualDevice
from tests.integration import scenario_data as data
from tests.integration.api_client import RunningApi, api_settings, create_account, running_api
from tests.integration.harness import Harness, wait_for

PASSWORD = "correct horse battery staple"
UNSCOPED = {
    "/v1/auth/sign-in", "/v1/auth/refresh", "/v1/auth/sign-out", "/v1/auth/password", "/v1/me",
}  # fmt: skip
"""Routes about the caller's own session, not a practice's resources."""


@pytest.fixture()
async def api(harness: Harness) -> AsyncIterator[RunningApi]:
    async with running_api(api_settings(harness.settings, harness.log_dir)) as running:
        yield running


async def _signed_in(
    api: RunningApi, roles: set[str], practice: str, **extra: Any
) -> dict[str, str]:
    device = extra.pop("device_id", None)
    admin = bool(roles & {"practice_admin", "service_admin"})
    name, secret = await create_account(api.services, "u", roles, {practice}, totp=admin, **extra)
    body = {"username": name, "password": PASSWORD, **({"device_id": device} if device else {})}
    if secret:
        body["totp"] = pyotp.TOTP(secret).now()
    answer = await api.client.post("/v1/auth/sign-in", json=body)
    assert answer.status_code == 200, answer.text
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    return {**headers, **({"X-Device-Id": device} if device else {})}


def _event(practice_id: str) -> dict[str, Any]:
    return json.loads(data.urgent_call(practice_id).model_dump_json())


def _body(path: str, method: str, practice_a: str, device: VirtualDevice) -> Any:
    """A valid body for each route that takes one, naming practice A's resources."""
    d = device.device
    admin = "/v1/admin/practices/{practice_id}"
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/intake"): _event(practice_a),
        ("POST", "/v1/intake/batch"): {"events": [_event(practice_a)]},
        ("POST", "/v1/desk/page"): _event(practice_a),
        ("POST", "/v1/desk/alerts/{dispatch_id}/claim"): None,
        ("POST", "/v1/desk/alerts/{dispatch_id}/resolve"): {"outcome": "message_taken"},
        ("GET", "/v1/desk/alerts"): None,
        ("GET", "/v1/desk/stream"): None,
        ("GET", "/v1/desk/claims"): None,
        ("GET", "/v1/app/shifts"): None,
        ("GET", "/v1/app/on-call"): None,
        ("POST", "/v1/app/calendar-feed/{practice_id}"): None,
        ("DELETE", "/v1/app/calendar-feed/{practice_id}"): None,
        ("GET", "/v1/feeds/{token}"): None,
        ("GET", "/v1/admin/practices/{practice_id}"): None,
        ("PUT", "/v1/admin/practices/{practice_id}"): {"practice_id": practice_a},
        ("POST", "/v1/admin/practices/{practice_id}/overrides/replace"): {
            "replace": "dr-a",
            "by": "dr-b",
            "start": "2026-12-05T00:00:00Z",
            "end": "2026-12-06T00:00:00Z",
        },
        ("GET", "/v1/admin/practices/{practice_id}/schedule"): None,
        ("PUT", "/v1/admin/practices/{practice_id}/sections/{section}"): {"weekly": {}},
        ("POST", "/v1/admin/practices/{practice_id}/groups/{group_id}/overrides"): {
            "clinician_id": "dr-b",
            "start": "2026-12-05T00:00:00Z",
            "end": "2026-12-06T00:00:00Z",
        },
        (
            "DELETE",
            "/v1/admin/practices/{practice_id}/groups/{group_id}/overrides/{override_id}",
        ): None,
        ("PUT", f"{admin}/clinicians/{{clinician_id}}"): {
            "clinician_id": "dr-a",
            "display_name": "Dr. A",
        },
        ("DELETE", f"{admin}/clinicians/{{clinician_id}}"): None,
        ("PUT", f"{admin}/groups/{{group_id}}"): {"group_id": "main", "name": "Main"},
        ("DELETE", f"{admin}/groups/{{group_id}}"): None,
        ("PUT", f"{admin}/groups/{{group_id}}/layers/{{layer_id}}"): {
            "layer_id": "l1",
            "participants": ["dr-a"],
            "shift_length": 1,
            "start_date": "2026-01-05",
        },
        ("DELETE", f"{admin}/groups/{{group_id}}/layers/{{layer_id}}"): None,
        ("PUT", f"{admin}/groups/{{group_id}}/overrides/{{override_id}}"): {
            "clinician_id": "dr-b",
            "start": "2026-12-05T00:00:00Z",
            "end": "2026-12-06T00:00:00Z",
        },
        ("PUT", f"{admin}/escalation-policies/{{urgency}}"): {
            "levels": [
                {
                    "targets": [{"kind": "clinician", "clinician_id": "dr-a"}],
                    "ack_timeout_seconds": 60,
                }
            ]
        },
        ("DELETE", f"{admin}/escalation-policies/{{urgency}}"): None,
        ("PUT", f"{admin}/closed-dates/{{day}}"): None,
        ("DELETE", f"{admin}/closed-dates/{{day}}"): None,
        ("GET", "/v1/admin/practices/{practice_id}/gaps"): None,
        ("GET", "/v1/admin/practices/{practice_id}/double-bookings"): None,
        ("GET", "/v1/admin/practices/{practice_id}/on-call"): None,
        ("POST", "/v1/admin/practices/{practice_id}/triage-check"): {"message": "fever"},
        ("GET", "/v1/admin/practices/{practice_id}/history"): None,
        ("GET", "/v1/admin/practices/{practice_id}/messages"): None,
        ("GET", "/v1/admin/practices/{practice_id}/messages/{dispatch_id}"): None,
        ("GET", "/v1/admin/practices/{practice_id}/messages/{dispatch_id}/content"): None,
        ("GET", "/v1/admin/practices/{practice_id}/audit"): None,
        ("GET", "/v1/usage/practices/{practice_id}"): None,
        ("GET", "/v1/admin/users"): None,
        ("POST", "/v1/admin/users"): {
            "username": "new@a",
            "roles": ["clinician"],
            "practices": [practice_a],
            "clinician_id": "dr-new",
        },
        ("PUT", "/v1/admin/users/{account_id}"): {
            "roles": ["clinician"],
            "disabled": True,
            "desks": [],
        },
        ("POST", "/v1/admin/users/{account_id}/password-reset"): None,
        ("POST", "/v1/app/swap-requests"): {
            "practice_id": practice_a,
            "group_id": "main",
            "start": "2026-12-05T00:00:00Z",
            "end": "2026-12-06T00:00:00Z",
            "with_clinician_id": "dr-a",
        },
        ("GET", f"{admin}/swap-requests"): None,
        ("POST", f"{admin}/swap-requests/{{request_id}}/approve"): None,
        ("POST", f"{admin}/swap-requests/{{request_id}}/decline"): None,
        ("GET", "/v1/desk/practices/{practice_id}/script"): None,
        ("POST", "/v1/app/devices"): {
            "device_id": d.device_id,
            "platform": "ios",
            "push_token": d.push_token,
            "public_key": d.public_key,
            "auth_secret": d.auth_secret,
        },
        ("PUT", "/v1/app/devices/{device_id}/push-token"): {"push_token": "f" * 64},
        ("DELETE", "/v1/app/devices/{device_id}"): None,
        ("GET", "/v1/app/devices"): None,
        ("GET", "/v1/app/dispatches"): None,
        ("GET", "/v1/app/dispatches/{dispatch_id}"): None,
        ("POST", "/v1/app/dispatches/{dispatch_id}/acks"): {"kind": "accepted"},
    }
    key = (method, path)
    assert key in bodies, f"{method} {path} is new: give it a row in the scope test"
    return bodies[key]


def _fill(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"unknown path parameter in {path}"
    return path


async def test_no_route_reaches_another_practice(harness: Harness, api: RunningApi) -> None:
    # Practice A: a dispatch paged to dr-a's phone, then handed to the desk.
    harness.load_practice(
        data.practice("p-scope-a", timeout_s=0.5, repeats=0, primary=("dr-a",), backup=()),
        data.devices_for("dr-a"),
    )
    call = data.urgent_call("p-scope-a")
    harness.producer.send_intake(call)
    dispatch_a = f"d-{call.event_id}"
    wait_for(lambda: harness.pushes(dispatch_a), 15, "practice A's page")
    for _ in range(200):  # the desk feed runs on this event loop: wait without blocking it
        if dispatch_a in api.services.desk.board.open:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("practice A never reached the desk")
    device_a = VirtualDevice("dr-a", "dr-a-phone", "ios")

    # Practice B's principals: every role that has routes.
    principals = {
        "clinician B": await _signed_in(
            api, {"clinician"}, "p-scope-b", clinician_id="dr-b", device_id="dr-b-phone"
        ),
        "operator B": await _signed_in(api, {"operator"}, "p-scope-b", desks={"desk-b"}),
        "admin B": await _signed_in(api, {"practice_admin", "billing", "sre"}, "p-scope-b"),
        "integration B": {"X-Api-Key": await api.integration_key("p-scope-b")},
    }
    account_a, _ = await create_account(
        api.services, "a", {"clinician"}, {"p-scope-a"}, clinician_id="dr-a"
    )
    found_a = await api.services.accounts.by_username(account_a)
    assert found_a is not None
    now = api.services.clock.now()
    swap_a = new_request("swap-a", "p-scope-a", "main", CoverageRole.PRIMARY, now,
                         now + timedelta(hours=8), "dr-a", "dr-a2", "", now)  # fmt: skip
    await SwapRequestStore(api.services.redis, api.services.keys).add(swap_a, now)
    real = {
        "clinician_id": "dr-a",
        "layer_id": "l1",
        "urgency": "urgent",
        "day": "2026-12-24",
        "section": "office_hours",
        "group_id": "main",
        "override_id": "ovr-1",
        "account_id": found_a.account_id,
        "dispatch_id": dispatch_a,
        "device_id": device_a.device_id,
        "practice_id": "p-scope-a",
        "token": "A" * 43 + ".ics",
        "request_id": "swap-a",
    }
    guessed = {
        "clinician_id": "dr-" + uuid.uuid4().hex[:6],
        "layer_id": "l-" + uuid.uuid4().hex[:6],
        "urgency": "urgent",
        "day": "2026-12-24",
        "dispatch_id": f"d-{uuid.uuid4()}",
        "device_id": "phone-" + uuid.uuid4().hex[:8],
        "practice_id": "p-" + uuid.uuid4().hex[:8],
        "token": uuid.uuid4().hex + ".ics",
        "account_id": "a-" + uuid.uuid4().hex[:16],
        "section": "office_hours",
        "group_id": "g-" + uuid.uuid4().hex[:6],
        "override_id": "ovr-" + uuid.uuid4().hex[:6],
        "request_id": "swap-" + uuid.uuid4().hex[:12],
    }
    sequential = {
        "clinician_id": "1",
        "layer_id": "1",
        "urgency": "urgent",
        "day": "2026-12-24",
        "dispatch_id": "d-1",
        "device_id": "1",
        "practice_id": "1",
        "token": "1.ics",
        "account_id": "1",
        "section": "office_hours",
        "group_id": "1",
        "override_id": "1",
        "request_id": "1",
    }

    paths = api.app.openapi()["paths"]  # every route the API serves, as documented
    tried = 0
    for template, operations in sorted(paths.items()):
        if not template.startswith("/v1") or template in UNSCOPED:
            continue
        for method in sorted(m.upper() for m in operations):
            body = _body(template, method, "p-scope-a", device_a)
            for who, headers in principals.items():
                if template.endswith("/stream") and who == "operator B":
                    continue  # an open stream: test_api_desk checks what a stranger's shows
                answers = []
                for ids in (real, guessed, sequential):
                    path = _fill(template, ids)
                    answer = await api.client.request(method, path, headers=headers, json=body)
                    tried += 1
                    answers.append(answer)
                    where = f"{who}: {method} {path}"
                    if template == "/v1/intake/batch" and answer.status_code == 200:
                        statuses = {r["status"] for r in answer.json()["results"]}
                        assert statuses <= {403, 404}, f"{where} -> {statuses}"  # per event
                    elif "{" in template or body is not None:
                        assert answer.status_code in (403, 404), f"{where} -> {answer.status_code}"
                    else:  # a list of one's own: nothing of practice A in it
                        assert answer.status_code in (200, 403), f"{where} -> {answer.status_code}"
                    assert dispatch_a not in answer.text and "p-scope-a" not in answer.text, where
                if "{" in template:  # a real id is refused exactly like a made-up one
                    first = (answers[0].status_code, answers[0].json())
                    assert first == (answers[1].status_code, answers[1].json()), (who, template)
    assert tried > 100
