"""Practice administration through the API on the real stack and worker: read with an
ETag, write with If-Match (428 without, 412 when stale), the practice-file validation as
422, "X is covered by Y" as one call that the next urgent call obeys, and the views."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest

from engine.domain.practice import Practice
from engine.practice_files import load_practice_file
from tests.integration import scenario_data as data
from tests.integration.api_client import RunningApi, api_settings, create_account, running_api
from tests.integration.harness import Harness, wait_for

MAPLE = Path(__file__).resolve().parents[2] / "deploy" / "practices" / "maple-pediatrics.yaml"
PASSWORD = "correct horse battery staple"


@pytest.fixture()
async def api(harness: Harness) -> AsyncIterator[RunningApi]:
    async with running_api(api_settings(harness.settings, harness.log_dir)) as running:
        yield running


def _members_of(practice: Practice, other: str) -> Practice:
    """The practice with each clinician also a member of ``other``."""
    clinicians = [c.model_copy(update={"practices": [other] if other else []})
                  for c in practice.clinicians]  # fmt: skip
    return practice.model_copy(update={"clinicians": clinicians})


async def _admin(api: RunningApi, practice_id: str) -> dict[str, str]:
    name, secret = await create_account(
        api.services, "admin", {"practice_admin"}, {practice_id}, totp=True
    )
    assert secret is not None
    answer = await api.client.post(
        "/v1/auth/sign-in",
        json={"username": name, "password": PASSWORD, "totp": pyotp.TOTP(secret).now()},
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def test_an_administrator_edits_the_practice_with_optimistic_concurrency(
    harness: Harness, api: RunningApi
) -> None:
    practice = _members_of(load_practice_file(MAPLE).practice, "maple-cover")
    harness.load_practice(practice, [])
    me = await _admin(api, "maple-peds")
    read = await api.client.get("/v1/admin/practices/maple-peds", headers=me)
    assert read.status_code == 200
    etag = read.headers["etag"]
    body: dict[str, Any] = read.json()

    url = "/v1/admin/practices/maple-peds"
    assert (await api.client.put(url, json=body, headers=me)).status_code == 428
    stale = await api.client.put(url, json=body, headers={**me, "If-Match": '"999"'})
    assert stale.status_code == 412
    bad = await api.client.put(
        url, json={**body, "timezone": "Mars/Olympus"}, headers={**me, "If-Match": etag}
    )
    assert bad.status_code == 422 and any(e["field"] == "timezone" for e in bad.json()["errors"])

    desk = await api.client.put(
        url, json={**body, "operator_desk": "nobody-staffs-this"}, headers={**me, "If-Match": etag}
    )
    assert desk.status_code == 403  # the desk is the answering service's, not the practice's
    saved = await api.client.put(
        url,
        json={**body, "name": "Maple Pediatrics (after hours)"},
        headers={**me, "If-Match": etag},
    )
    assert saved.status_code == 200, saved.text
    new_etag = saved.headers["etag"]
    assert new_etag != etag
    again = await api.client.put(url, json=body, headers={**me, "If-Match": etag})
    assert again.status_code == 412  # the other administrator's save is not overwritten
    history = (await api.client.get(f"{url}/history", headers=me)).json()
    assert history[-1]["actor"].startswith("a-") and history[-1]["revision"] > 1

    # The override, on a practice no earlier save put in the worker's cache (the worker
    # follows the practices topic; a call right after a save could beat the record).
    cover_practice = _members_of(
        practice.model_copy(update={"practice_id": "maple-cover"}), "maple-peds"
    )
    stranger = _members_of(practice.model_copy(update={"practice_id": "maple-stranger"}), "")
    harness.load_practice(stranger, [])  # the same ids, but no membership in common
    harness.load_practice(cover_practice, data.devices_for("dr-lindqvist", "dr-castellanos"))
    me = await _admin(api, "maple-cover")
    url = "/v1/admin/practices/maple-cover"
    new_etag = (await api.client.get(url, headers=me)).headers["etag"]
    who = (await api.client.get(f"{url}/on-call", headers=me)).json()
    primary = who["primary"]["peds-after-hours"][0]
    cover = "dr-castellanos" if primary != "dr-castellanos" else "dr-lindqvist"
    now = api.services.clock.now()
    replaced = await api.client.post(
        f"{url}/overrides/replace",
        json={
            "replace": primary,
            "by": cover,
            "start": (now - timedelta(minutes=1)).isoformat(),
            "end": (now + timedelta(hours=2)).isoformat(),
            "group_id": "peds-after-hours",
        },
        headers={**me, "If-Match": new_etag},
    )
    assert replaced.status_code == 201, replaced.text
    nobody = await api.client.post(
        f"{url}/overrides/replace",
        json={"replace": "dr-nobody", "by": cover, "start": now.isoformat(),
              "end": (now + timedelta(hours=1)).isoformat()},
        headers={**me, "If-Match": replaced.headers["etag"]},
    )  # fmt: skip
    assert nobody.status_code == 422

    def cache_has_it() -> bool:  # the worker follows the practices topic
        after = (harness.redis.get(harness.keys.practice("maple-cover")) or b"").decode()
        return f'"revision":{replaced.json()["revision"]}' in after.replace(" ", "")

    wait_for(cache_has_it, 10, "the new revision stored")
    call = data.urgent_call("maple-cover")
    harness.producer.send_intake(call)
    pushes = wait_for(lambda: harness.pushes(f"d-{call.event_id}"), 20, "the page")
    assert pushes[0]["clinician_id"] == cover

    views = {
        "schedule": await api.client.get(f"{url}/schedule?days=2", headers=me),
        "gaps": await api.client.get(f"{url}/gaps?days=7", headers=me),
        "double-bookings": await api.client.get(f"{url}/double-bookings?days=2", headers=me),
    }
    # maple-peds and its copy maple-cover have the same people on call: double-booked,
    # and the other practice is counted, not named
    booked = views["double-bookings"].json()
    assert booked and all(b["other_practices"] >= 1 for b in booked)
    assert "maple-peds" not in views["double-bookings"].text
    assert all(b["other_practices"] == 1 for b in booked)  # maple-stranger is not counted
    assert all(v.status_code == 200 for v in views.values())
    segments = views["schedule"].json()[0]["segments"]
    assert any(cover in s["clinicians"] for s in segments)
    check = await api.client.post(
        f"{url}/triage-check",
        json={"message": "my child is not breathing", "reason": "symptoms"},
        headers=me,
    )
    assert check.status_code == 200 and check.json()["urgency"] == "emergency"
    assert json.dumps(check.json()).count("not breathing") == 0  # rules by id, not text


async def test_parts_of_the_practice_and_single_overrides(
    harness: Harness, api: RunningApi
) -> None:
    practice = load_practice_file(MAPLE).practice.model_copy(update={"practice_id": "maple-parts"})
    harness.load_practice(practice, [])
    me = await _admin(api, "maple-parts")
    url = "/v1/admin/practices/maple-parts"
    etag = (await api.client.get(url, headers=me)).headers["etag"]
    triage = practice.triage.model_dump(mode="json")
    triage["emergency_keywords"] = [*triage["emergency_keywords"], "purple toes"]
    saved = await api.client.put(
        f"{url}/sections/triage", json=triage, headers={**me, "If-Match": etag}
    )
    assert saved.status_code == 200, saved.text
    etag = saved.headers["etag"]
    check = await api.client.post(
        f"{url}/triage-check", json={"message": "he has purple toes", "reason": "symptoms"},
        headers=me,
    )  # fmt: skip
    assert check.json()["urgency"] == "emergency"
    bad = await api.client.put(
        f"{url}/sections/office_hours", json={"weekly": {"mon": [{"start": "25:00"}]}},
        headers={**me, "If-Match": etag},
    )  # fmt: skip
    assert bad.status_code == 422 and any(
        "office_hours" in e["field"] for e in bad.json()["errors"]
    )
    not_a_part = await api.client.put(
        f"{url}/sections/operator_desk", json="elsewhere", headers={**me, "If-Match": etag}
    )
    assert not_a_part.status_code == 422

    now = api.services.clock.now()
    added = await api.client.post(
        f"{url}/groups/peds-after-hours/overrides",
        json={"clinician_id": "dr-castellanos", "start": now.isoformat(),
              "end": (now + timedelta(hours=3)).isoformat(), "note": "covers"},
        headers={**me, "If-Match": etag},
    )  # fmt: skip
    assert added.status_code == 201, added.text
    location = added.headers["location"]
    assert location.startswith(f"{url}/groups/peds-after-hours/overrides/ovr-")
    gone = await api.client.delete(location, headers={**me, "If-Match": added.headers["etag"]})
    assert gone.status_code == 200
    again = await api.client.delete(location, headers={**me, "If-Match": gone.headers["etag"]})
    assert again.status_code == 404
    groups = (await api.client.get(url, headers=me)).json()["coverage_groups"]
    assert all(not o["override_id"].startswith("ovr-") for g in groups for o in g["overrides"])


async def test_single_items_of_the_practice(harness: Harness, api: RunningApi) -> None:
    practice = load_practice_file(MAPLE).practice.model_copy(update={"practice_id": "maple-items"})
    harness.load_practice(practice, [])
    me = await _admin(api, "maple-items")
    url = "/v1/admin/practices/maple-items"
    etag = (await api.client.get(url, headers=me)).headers["etag"]

    async def write(method: str, path: str, body: Any = None) -> Any:
        nonlocal etag
        answer = await api.client.request(
            method, f"{url}{path}", json=body, headers={**me, "If-Match": etag}
        )
        if answer.status_code in (200, 201):
            etag = answer.headers["etag"]
        return answer

    async def current() -> dict[str, Any]:
        return dict((await api.client.get(url, headers=me)).json())

    new = {"clinician_id": "dr-new", "display_name": "Dr. Nia New"}
    assert (await write("PUT", "/clinicians/dr-new", new)).status_code == 201
    renamed = await write("PUT", "/clinicians/dr-new", {**new, "display_name": "Dr. Nia Newer"})
    assert renamed.status_code == 200
    mismatch = await write("PUT", "/clinicians/dr-other", new)
    assert mismatch.status_code == 422 and mismatch.json()["errors"][0]["field"] == "clinician_id"

    layer = {"layer_id": "extra", "participants": ["dr-new", "dr-okafor"], "shift_length": 12,
             "shift_unit": "hours", "handoff_time": "19:00",
             "start_date": "2026-01-05"}  # fmt: skip
    assert (await write("PUT", "/groups/peds-after-hours/layers/extra", layer)).status_code == 201
    group = next(
        g for g in (await current())["coverage_groups"] if g["group_id"] == "peds-after-hours"
    )
    assert group["layers"][-1]["layer_id"] == "extra"  # a new layer goes last: it wins
    in_use = await write("DELETE", "/clinicians/dr-new")
    assert in_use.status_code == 422 and "dr-new" in in_use.json()["detail"]
    assert (await write("DELETE", "/groups/peds-after-hours/layers/extra")).status_code == 200
    assert (await write("DELETE", "/clinicians/dr-new")).status_code == 200
    assert (await write("DELETE", "/clinicians/dr-new")).status_code == 404
    assert (await write("PUT", "/groups/no-such-group/layers/extra", layer)).status_code == 404

    now = api.services.clock.now()
    override = {"clinician_id": "dr-brandt", "start": now.isoformat(),
                "end": (now + timedelta(hours=4)).isoformat()}  # fmt: skip
    added = await write("POST", "/groups/peds-after-hours/overrides", override)
    assert added.status_code == 201
    path = added.headers["location"].removeprefix(url)
    longer = {**override, "end": (now + timedelta(hours=8)).isoformat(), "note": "longer"}
    assert (await write("PUT", path, longer)).status_code == 200
    group = next(
        g for g in (await current())["coverage_groups"] if g["group_id"] == "peds-after-hours"
    )
    assert [o["note"] for o in group["overrides"] if path.endswith(o["override_id"])] == ["longer"]
    unknown = await write("PUT", "/groups/peds-after-hours/overrides/ovr-none", longer)
    assert unknown.status_code == 404

    urgent = {"levels": [{"targets": [{"kind": "clinician", "clinician_id": "dr-okafor"}],
                          "ack_timeout_seconds": 120}]}  # fmt: skip
    assert (await write("PUT", "/escalation-policies/urgent", urgent)).status_code == 200
    assert (await current())["escalation_policies"]["urgent"]["levels"][0][
        "ack_timeout_seconds"
    ] == 120
    assert (await write("DELETE", "/escalation-policies/urgent")).status_code == 200
    assert "urgent" not in (await current())["escalation_policies"]
    assert (await write("DELETE", "/escalation-policies/urgent")).status_code == 404

    assert (await write("PUT", "/closed-dates/2027-01-04")).status_code == 201
    assert "2027-01-04" in (await current())["office_hours"]["closed_dates"]
    assert (await write("DELETE", "/closed-dates/2027-01-04")).status_code == 200
    assert (await write("DELETE", "/closed-dates/2027-01-04")).status_code == 404

    group_body = {"group_id": "weekend-triage", "name": "Weekend triage nurses", "layers": [
        {"layer_id": "nurses", "participants": ["np-ruiz"], "shift_length": 1,
         "start_date": "2026-01-05"}]}  # fmt: skip
    assert (await write("PUT", "/groups/weekend-triage", group_body)).status_code == 201
    assert (await write("DELETE", "/groups/weekend-triage")).status_code == 200
    stale = await api.client.delete(
        f"{url}/groups/newborn-hospital", headers={**me, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    history = (await api.client.get(f"{url}/history", headers=me)).json()
    assert len(history) >= 12  # every write is a revision, audited by the store
