"""The on-call calendar and the overrides page in a real browser, against the real
stack and worker: an administrator replaces tonight's clinician from the calendar (with
a preview first), the calendar marks the override and the next urgent call pages the
replacement's phone; a save based on a stale revision is refused with a message; the
days the clocks change show 23 and 25 hours; and no serious accessibility violation,
on a wide screen or a phone-sized one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from engine.practice_files import load_practice_file
from tests.integration import scenario_data as data
from tests.integration.api_client import api_settings
from tests.integration.harness import Harness, wait_for
from tests.integration.portal_browser import (
    Portal,
    chromium,
    new_page,
    serious_violations,
    serve_portal,
    sign_in,
)

MAPLE = Path(__file__).resolve().parents[2] / "deploy" / "practices" / "maple-pediatrics.yaml"
PRACTICE = load_practice_file(MAPLE).practice.model_copy(update={"practice_id": "maple-cal"})
NAMES = {c.clinician_id: c.display_name for c in PRACTICE.clinicians}
CALENDAR = "/portal/practices/maple-cal/calendar"
OVERRIDES = "/portal/practices/maple-cal/overrides"


@pytest.fixture(scope="module")
def portal(harness: Harness) -> Iterator[Portal]:
    harness.load_practice(PRACTICE, data.devices_for(*NAMES))
    with serve_portal(api_settings(harness.settings, harness.log_dir)) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _admin(portal: Portal, browser: Browser, width: int = 1280) -> Page:
    page = new_page(browser)
    page.set_viewport_size({"width": width, "height": 900})
    name, secret = portal.account("admin", {"practice_admin"}, {"maple-cal"}, totp=True)
    sign_in(page, portal, name, secret)
    return page


def test_a_shift_replaced_from_the_calendar_is_marked_and_pages_the_replacement(
    harness: Harness, portal: Portal, browser: Browser
) -> None:
    page = _admin(portal, browser)
    page.goto(f"{portal.url}{CALENDAR}?view=week")
    shift = page.locator('li.segment.now[data-role="primary"]')
    expect(shift).to_contain_text("Now")
    link = shift.get_by_role("link", name=re.compile("Replace with"))
    replaced = parse_qs(urlsplit(link.get_attribute("href") or "").query)["replace"][0]
    cover = "dr-castellanos" if replaced != "dr-castellanos" else "dr-lindqvist"
    link.click()
    expect(page.get_by_label("Covering for (optional)")).to_have_value(replaced)
    page.get_by_label("Who").select_option(cover)
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview (not saved yet)")).to_be_visible()
    changed = page.get_by_role("table", name=re.compile("With this change"))
    expect(changed).to_contain_text(NAMES[cover])
    expect(page.get_by_role("table", name=re.compile("^Now"))).to_contain_text(NAMES[replaced])
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(r"/calendar\?view=week"))
    saved = page.get_by_role("status").filter(has_text="Saved as revision")
    revision = re.search(r"revision (\d+)", saved.inner_text())
    assert revision is not None
    marked = page.locator('li.segment.now[data-role="primary"]')
    expect(marked).to_contain_text("Override")
    expect(marked).to_contain_text(NAMES[cover])

    def cache_has_it() -> bool:  # the worker follows the practices topic
        stored = (harness.redis.get(harness.keys.practice("maple-cal")) or b"").decode()
        return f'"revision":{revision.group(1)}' in stored.replace(" ", "")

    wait_for(cache_has_it, 10, "the new revision in the worker's cache")
    call = data.urgent_call("maple-cal")
    harness.producer.send_intake(call)
    pushes = wait_for(lambda: harness.pushes(f"d-{call.event_id}"), 20, "the page")
    assert pushes[0]["clinician_id"] == cover


def test_a_save_on_a_stale_revision_says_so_and_remove_works(
    portal: Portal, browser: Browser
) -> None:
    first, second = _admin(portal, browser), _admin(portal, browser)
    first.goto(f"{portal.url}{OVERRIDES}")
    first.get_by_label("Who").select_option("dr-brandt")
    first.get_by_label("Start (America/Chicago)").fill("2027-02-01T09:00")
    first.get_by_label("End (America/Chicago)").fill("2027-02-01T08:00")
    first.get_by_role("button", name="Preview").click()
    expect(first.get_by_role("alert")).to_contain_text("The end is not after the start")
    first.get_by_label("End (America/Chicago)").fill("2027-02-01T12:00")
    first.get_by_role("button", name="Preview").click()
    expect(first.get_by_role("status").filter(has_text="No conflict")).to_be_visible()

    second.goto(f"{portal.url}{OVERRIDES}")
    row = second.get_by_role("row", name=re.compile("conference"))
    row.get_by_role("link", name=re.compile("Remove")).click()
    expect(second.get_by_role("heading", name="Remove this override?")).to_be_visible()
    without = second.get_by_role("table", name=re.compile("With this change"))
    expect(without).to_contain_text(NAMES["dr-brandt"])  # back to the rotation's own
    expect(second.get_by_role("row", name=re.compile("conference"))).to_have_count(1)
    assert serious_violations(second) == []
    second.get_by_role("button", name="Remove the override").click()
    expect(second.get_by_role("status")).to_contain_text("Saved as revision")
    expect(second.get_by_role("row", name=re.compile("conference"))).to_have_count(0)

    first.get_by_role("button", name="Save").click()
    expect(first.get_by_role("alert")).to_contain_text("Someone saved a change")
    assert "{" not in first.get_by_role("alert").inner_text()  # a sentence, not JSON
    first.get_by_role("button", name="Preview").click()  # the draft keeps its revision
    first.get_by_role("button", name="Save").click()
    expect(first.get_by_role("alert")).to_contain_text("Someone saved a change")
    first.goto(f"{portal.url}{OVERRIDES}")  # read afresh, then the change saves
    first.get_by_label("Who").select_option("dr-brandt")
    first.get_by_label("Start (America/Chicago)").fill("2027-02-01T09:00")
    first.get_by_label("End (America/Chicago)").fill("2027-02-01T12:00")
    first.get_by_role("button", name="Preview").click()
    first.get_by_role("button", name="Save").click()
    expect(first.get_by_role("status")).to_contain_text("Saved as revision")
    row = first.get_by_role("row", name=re.compile(NAMES["dr-brandt"]))
    expect(row).to_contain_text("12:00")
    row.get_by_role("link", name=re.compile("Edit")).click()
    expect(first.get_by_role("heading", name="Edit the override")).to_be_visible()
    expect(first.get_by_label("Start (America/Chicago)")).to_have_value("2027-02-01T09:00")
    first.get_by_label("End (America/Chicago)").fill("2027-02-01T13:30")
    first.get_by_role("button", name="Preview").click()
    first.get_by_role("button", name="Save").click()
    row = first.get_by_role("row", name=re.compile(NAMES["dr-brandt"]))
    expect(row).to_contain_text("13:30")
    expect(row).to_have_count(1)  # changed, not added


def test_a_removal_that_leaves_nobody_is_a_marked_gap(portal: Portal, browser: Browser) -> None:
    page = _admin(portal, browser)
    page.goto(f"{portal.url}{CALENDAR}?view=week&date=2027-02-02")
    tuesday = page.locator("li.day").filter(has_text="Tue 02 Feb")
    primary = tuesday.locator('li.segment[data-role="primary"]')
    shift = primary.filter(has_text=re.compile("\u201317:00"))  # until 17:00
    link = shift.get_by_role("link", name=re.compile("Replace with"))
    person = parse_qs(urlsplit(link.get_attribute("href") or "").query)["replace"][0]
    link.click()
    page.get_by_label("Kind").select_option("remove")
    page.get_by_label("Covering for (optional)").select_option("")
    page.get_by_label("Who").select_option(person)
    page.get_by_label("Start (America/Chicago)").fill("2027-02-02T10:00")
    page.get_by_label("End (America/Chicago)").fill("2027-02-02T11:00")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("alert")).to_contain_text("Nobody would be primary on call")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/calendar\?view=week&group=peds-after-hours"))
    gap = page.locator("li.segment.gap").filter(has_text="10:00\u201311:00")
    expect(gap).to_contain_text("Gap: nobody")
    expect(gap).to_contain_text("Override")
    expect(gap.get_by_role("link", name=re.compile("Cover"))).to_be_visible()
    assert serious_violations(page) == []


@pytest.mark.parametrize(("day", "label"), [("2026-03-08", "23 h day"),
                                            ("2026-11-01", "25 h day")])  # fmt: skip
def test_the_days_the_clocks_change_show_their_length(
    portal: Portal, browser: Browser, day: str, label: str
) -> None:
    page = _admin(portal, browser)
    page.goto(f"{portal.url}{CALENDAR}?view=week&date={day}")
    sunday = page.locator("li.day").filter(has_text=label)
    expect(sunday).to_have_count(1)
    expect(sunday.get_by_role("heading")).to_contain_text("Sun 0")
    expect(page.locator("li.day").filter(has_text="h day")).to_have_count(1)
    answer = page.goto(f"{portal.url}{CALENDAR}?view=month&date=9999-12-31")
    assert answer is not None and answer.status == 422
    expect(page.get_by_role("alert")).to_contain_text("date: must be from")


@pytest.mark.parametrize("width", [1280, 375])
def test_calendar_and_overrides_pages_are_accessible_and_fit_a_phone(
    portal: Portal, browser: Browser, width: int
) -> None:
    page = _admin(portal, browser, width)
    for path in (f"{CALENDAR}?view=month", f"{CALENDAR}?view=week", OVERRIDES):
        page.goto(f"{portal.url}{path}")
        assert serious_violations(page) == [], path
        fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, f"{path} is wider than {width} px"
    page.get_by_label("Who").select_option("dr-okafor")
    page.get_by_label("Start (America/Chicago)").fill("2027-03-01T08:00")
    page.get_by_label("End (America/Chicago)").fill("2027-03-01T09:00")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview (not saved yet)")).to_be_visible()
    assert serious_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.goto(f"{portal.url}{CALENDAR}?view=month")
    page.get_by_label("Coverage group").select_option("newborn-hospital")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("Newborn nursery and hospital calls. Times in")).to_be_visible()
    page.get_by_role("link", name=re.compile("Next month")).click()
    expect(page).to_have_url(re.compile(r"group=newborn-hospital"))
