"""A clinician's own schedule through the API: shifts, on call now, and the personal
calendar feed whose secret link can be replaced and revoked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.domain.oncall import resolve_chain
from engine.practice_files import load_practice_file
from tests.integration.api_client import RunningApi, api_settings, create_account, running_api
from tests.integration.harness import Harness

MAPLE = Path(__file__).resolve().parents[2] / "deploy" / "practices" / "maple-pediatrics.yaml"
PASSWORD = "correct horse battery staple"


@pytest.fixture()
async def api(harness: Harness) -> AsyncIterator[RunningApi]:
    async with running_api(api_settings(harness.settings, harness.log_dir)) as running:
        yield running


async def test_shifts_on_call_now_and_a_revocable_calendar_link(
    harness: Harness, api: RunningApi
) -> None:
    practice = load_practice_file(MAPLE).practice
    harness.load_practice(practice, [])
    name, _ = await create_account(
        api.services, "clin", {"clinician"}, {"maple-peds"}, clinician_id="dr-lindqvist"
    )
    tokens = (
        await api.client.post("/v1/auth/sign-in", json={"username": name, "password": PASSWORD})
    ).json()
    me = {"Authorization": f"Bearer {tokens['access_token']}"}

    shifts = (await api.client.get("/v1/app/shifts?days=14", headers=me)).json()
    assert shifts and {s["practice_id"] for s in shifts} == {"maple-peds"}
    assert all(s["start"] < s["end"] for s in shifts)
    assert (await api.client.get("/v1/app/shifts?days=0", headers=me)).status_code == 422

    now = datetime.now(UTC)
    on_call = (await api.client.get("/v1/app/on-call", headers=me)).json()
    expected = any("dr-lindqvist" in lv.targets for lv in resolve_chain(practice, now).levels)
    assert on_call["on_call"] == expected

    first = await api.client.post("/v1/app/calendar-feed/maple-peds", headers=me)
    assert first.status_code == 200, first.text
    url = first.json()["url"]
    feed = await api.client.get(url)  # no credentials: the link is the secret
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    assert b"BEGIN:VCALENDAR" in feed.content and b"On call" in feed.content

    second = (await api.client.post("/v1/app/calendar-feed/maple-peds", headers=me)).json()
    assert (await api.client.get(url)).status_code == 404  # replaced
    assert (await api.client.get(second["url"])).status_code == 200
    revoked = await api.client.delete("/v1/app/calendar-feed/maple-peds", headers=me)
    assert revoked.status_code == 204
    assert (await api.client.get(second["url"])).status_code == 404
    guessed = await api.client.get("/v1/feeds/" + "A" * 43 + ".ics")
    assert guessed.status_code == 404
    other = await api.client.post("/v1/app/calendar-feed/p-not-mine", headers=me)
    assert other.status_code == 404
