"""The portal and the API under malformed or oversized input, and optimistic concurrency
kept through a form's re-renders (signed in by the portal's cookie, no browser):

- cursors and revisions that ``str.isdigit`` accepts but ``int`` refuses are 4xx;
- dates at the ends of the calendar are 4xx (or an empty field), never 500;
- a swap, an override preview and an escalation form ask only bounded work;
- a form shown again (a preview, a refused save) keeps the revision it was first read
  at, so its save after someone else's change is refused, not overwritten.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx

from engine.portal.routes.rotations import layer_fields
from tests.integration.api_client import RunningApi
from tests.integration.test_portal_scope import _browser, api  # noqa: F401 (a fixture)

BASE = "/portal/practices/scope-a"
ADMIN = "/v1/admin/practices/scope-a"
STALE = "Someone else saved a change to this practice"


def _revision(html: str, action: str) -> int:
    """The revision in the form posting to ``action``."""
    found = re.search(
        re.escape(action) + r'">\s*<input type="hidden" name="csrf_token" value="[^"]+">\s*'
        r'<input type="hidden" name="revision" value="(\d+)"', html,
    )  # fmt: skip
    assert found, f"no revision in the form of {action}"
    return int(found[1])


async def test_cursors_and_revisions_int_refuses_are_4xx(api: RunningApi) -> None:  # noqa: F811
    client, csrf = await _browser(api, {"practice_admin"})
    for before in ("²:x", "1²:x", "9" * 30 + ":x"):
        answer = await client.get(f"{ADMIN}/messages", params={"before": before})
        assert answer.status_code == 422, (before, answer.text)
    for before in ("²:1", "1:²", "1:" + "9" * 30):
        answer = await client.get(f"{ADMIN}/audit", params={"before": before})
        assert answer.status_code == 422, (before, answer.text)
    for if_match in ('"²"', "9" * 4301):
        answer = await client.put(
            f"{ADMIN}/sections/office_hours", json={"weekly": {}},
            headers={"If-Match": if_match.encode("latin-1"), "X-CSRF-Token": csrf},
        )  # fmt: skip
        assert answer.status_code == 412, (if_match[:5], answer.text)
    page = await client.get(f"{BASE}/office-hours")
    revision = _revision(page.text, f"{BASE}/office-hours")
    for stale in ("²", "9" * 4301):
        answer = await client.post(
            f"{BASE}/office-hours", data={"csrf_token": csrf, "revision": stale}
        )
        assert answer.status_code == 422 and STALE in answer.text
    assert _revision((await client.get(f"{BASE}/office-hours")).text,
                     f"{BASE}/office-hours") == revision  # nothing saved  # fmt: skip


async def test_dates_at_the_ends_of_the_calendar_are_4xx(api: RunningApi) -> None:  # noqa: F811
    client, csrf = await _browser(api, {"practice_admin"})
    ends = {"start": "0001-01-01T00:00+05:00", "end": "9999-12-31T23:59-05:00"}
    answer = await client.get(f"{BASE}/overrides", params=ends)
    assert answer.status_code == 200
    for page in ("messages", "audit"):
        answer = await client.get(f"{BASE}/{page}", params={"to": "9999-12-31"})
        assert answer.status_code == 422 and "out of range" in answer.text, page

    for view, params in [
        ("schedule", {"start": "9999-12-31T00:00:00Z", "days": "93"}),
        ("schedule", {"start": "0001-01-01T00:00:00+05:00"}),
        ("on-call", {"at": "0001-01-01T00:00:00+05:00"}),
        ("on-call", {"at": "9999-12-31T23:59:00-05:00"}),
    ]:
        answer = await client.get(f"{ADMIN}/{view}", params=params)
        assert answer.status_code == 422, (view, params)
        assert [e["field"] for e in answer.json()["errors"]] == [next(iter(params))]
    late = {"message": "fever", "at": "9999-12-31T23:59:00-05:00"}
    checked = await client.post(f"{ADMIN}/triage-check", headers={"X-CSRF-Token": csrf}, json=late)
    assert checked.status_code == 422 and checked.json()["errors"][0]["field"] == "at"
    assert (await client.get(f"{ADMIN}/schedule", params={"days": "93"})).status_code == 200


async def _override_preview(
    client: httpx.AsyncClient, csrf: str, revision: int, **change: str
) -> httpx.Response:
    form = {
        "csrf_token": csrf, "revision": str(revision), "group_id": "peds-after-hours",
        "role": "primary", "kind": "replace", "clinician_id": "dr-brandt",
        "start": "2027-02-01T09:00", "end": "2027-02-01T12:00", **change,
    }  # fmt: skip
    return await client.post(f"{BASE}/overrides/preview", data=form)


async def test_previews_and_forms_ask_only_bounded_work(api: RunningApi) -> None:  # noqa: F811
    client, csrf = await _browser(api, {"practice_admin"})
    revision = _revision((await client.get(f"{BASE}/office-hours")).text, f"{BASE}/office-hours")
    answer = await _override_preview(client, csrf, revision, clinician_id="x!")
    assert answer.status_code == 422 and "clinician_id" in answer.text
    answer = await _override_preview(client, csrf, revision, start="0001-01-02T00:00",
                                     end="9999-12-30T00:00")  # fmt: skip
    assert answer.status_code == 422 and "at most 93 days" in answer.text
    answer = await client.post(
        f"{BASE}/escalation/urgent",
        data={"csrf_token": csrf, "revision": str(revision), "count": "100000000000"},
    )
    assert answer.status_code == 422 and "at most 20 levels" in answer.text

    doctor, token = await _browser(api, {"clinician"}, clinician_id="dr-okafor")
    start = api.services.clock.now() + timedelta(days=1)
    answer = await doctor.post(
        "/v1/app/swap-requests", headers={"X-CSRF-Token": token},
        json={"practice_id": "scope-a", "group_id": "peds-after-hours",
              "start": start.isoformat(), "end": (start + timedelta(days=40)).isoformat(),
              "with_clinician_id": "dr-brandt"},
    )  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["end"]
    assert "31 days" in answer.json()["detail"]


async def _someone_else_saves(client: httpx.AsyncClient, csrf: str, revision: int) -> None:
    saved = await client.post(
        f"{BASE}/office-hours",
        data={"csrf_token": csrf, "revision": str(revision), "hours-mon": "08:00-12:00"},
    )
    assert saved.status_code == 303, saved.text


async def test_a_form_shown_again_keeps_the_revision_it_was_read_at(
    api: RunningApi,  # noqa: F811
) -> None:
    client, csrf = await _browser(api, {"practice_admin"})
    other, other_csrf = await _browser(api, {"practice_admin"})
    layer_form = f"{BASE}/rotations/peds-after-hours/weekly-primary"
    read = _revision((await client.get(f"{BASE}/rotations")).text, layer_form)
    await _someone_else_saves(other, other_csrf, read)
    practice = await api.services.practices.get("scope-a")
    assert practice is not None and practice.revision > read
    layer = next(lay for g in practice.coverage_groups for lay in g.layers
                 if lay.layer_id == "weekly-primary")  # fmt: skip
    fields = {**layer_fields(layer), "csrf_token": csrf, "revision": str(read)}

    shown = await client.post(layer_form, data={**fields, "action": "preview"})
    assert shown.status_code == 200 and _revision(shown.text, layer_form) == read
    refused = await client.post(layer_form, data={**fields, "action": "save"})
    assert refused.status_code == 422 and STALE in refused.text
    assert _revision(refused.text, layer_form) == read

    hours = f"{BASE}/office-hours"
    invalid = await client.post(hours, data={"csrf_token": csrf, "revision": str(read),
                                             "hours-tue": "nonsense"})  # fmt: skip
    assert invalid.status_code == 422 and _revision(invalid.text, hours) == read
    refused = await client.post(hours, data={"csrf_token": csrf, "revision": str(read),
                                             "hours-tue": "09:00-17:00"})  # fmt: skip
    assert refused.status_code == 422 and STALE in refused.text
    assert _revision(refused.text, hours) == read

    preview = await _override_preview(client, csrf, read)
    assert preview.status_code == 200
    assert _revision(preview.text, f"{BASE}/overrides/save") == read
    assert _revision(preview.text, f"{BASE}/overrides/preview") == read
    save_form = preview.text.split("overrides/save", 1)[1].split("</form>")[0]
    form = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', save_form))
    saved = await client.post(f"{BASE}/overrides/save", data=form)
    assert saved.status_code == 412 and "Someone saved a change" in saved.text
    assert _revision(saved.text, f"{BASE}/overrides/preview") == read


async def test_a_service_administrator_gives_an_operator_desks(
    api: RunningApi,  # noqa: F811
) -> None:
    operator, billing = f"op-{uuid.uuid4().hex[:6]}", f"bill-{uuid.uuid4().hex[:6]}"
    boss, csrf = await _browser(api, {"service_admin"})
    listed = await boss.get("/portal/users")
    assert 'name="desks" value="maple-desk"' in listed.text
    answer = await boss.post("/portal/users/invite", data={
        "csrf_token": csrf, "username": operator, "roles": "operator",
        "practices": "scope-a", "desks": "maple-desk",
    })  # fmt: skip
    assert answer.status_code == 200, answer.text
    invited = await api.services.accounts.by_username(operator)
    assert invited is not None and invited.desks == {"maple-desk"}
    roles = f"/portal/users/{invited.account_id}/roles"
    form = {"csrf_token": csrf, "roles": "operator", "desks_shown": "true"}
    assert (await boss.post(roles, data=form)).status_code == 303
    assert (await api.services.accounts.get(invited.account_id)).desks == set()  # type: ignore[union-attr]
    assert (await boss.post(roles, data={**form, "desks": "operator-desk"})).status_code == 303
    changed = await api.services.accounts.get(invited.account_id)
    assert changed is not None and changed.desks == {"operator-desk"}

    admin, admin_csrf = await _browser(api, {"practice_admin"})
    assert 'name="desks"' not in (await admin.get("/portal/users")).text
    answer = await admin.post("/portal/users/invite", data={
        "csrf_token": admin_csrf, "username": billing, "roles": "billing",
        "practices": "scope-a",
    })  # fmt: skip
    assert answer.status_code == 200, answer.text
    doctor = await api.services.accounts.by_username(billing)
    assert doctor is not None
    refused = await admin.put(f"/v1/admin/users/{doctor.account_id}",
                              json={"roles": ["billing"], "desks": ["maple-desk"]},
                              headers={"X-CSRF-Token": admin_csrf})  # fmt: skip
    assert refused.status_code == 403, refused.text
    kept = await admin.post(f"/portal/users/{doctor.account_id}/roles",
                            data={"csrf_token": admin_csrf, "roles": "billing"})  # fmt: skip
    assert kept.status_code == 303
    after = await api.services.accounts.get(doctor.account_id)
    assert after is not None and after.desks == set() and after.roles == {"billing"}
