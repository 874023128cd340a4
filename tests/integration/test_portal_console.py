"""The operator console in a real browser, on the real Kafka and Redis and a real worker:
an unanswered call appears in the open console without a reload, one operator claims
it and another is told it is taken, the claim stays in sight until resolved, the script
for an incoming call names who is on call, a page on a caller's behalf goes out, and
axe finds no serious violation with an alert on screen."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from engine.domain.schedule import Clinician
from engine.handlers.intake import dispatch_id_for
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

PRACTICE = "p-console"
TYPED = f"{data.SYNTHETIC_MESSAGE}, typed at the desk"
NAMES = {"dr-ash": "Dr. Ada Ash", "dr-birch": "Dr. Ben Birch"}


COUNT_TONES = """
window.tones = 0;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.tones += 1;
  return start.apply(this, args);
};
"""
"""Counts the console's tones (injected by the test, not by the page)."""


@pytest.fixture(scope="module")
def portal(harness: Harness) -> Iterator[Portal]:
    practice = data.practice(PRACTICE, timeout_s=0.5, repeats=0).model_copy(
        update={
            "clinicians": [
                Clinician(clinician_id=c, display_name=n, practices=[PRACTICE])
                for c, n in NAMES.items()
            ]
        }
    )
    harness.load_practice(practice, data.devices_for("dr-ash", "dr-birch"))
    with serve_portal(api_settings(harness.settings, harness.log_dir)) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _operator(portal: Portal, browser: Browser) -> Page:
    page = new_page(browser)
    page.context.add_init_script(COUNT_TONES)
    name, _ = portal.account("op", {"operator"}, {PRACTICE}, desks={"desk-1"})
    sign_in(page, portal, name)
    expect(page).to_have_url(re.compile(r"/portal/desk$"))
    return page


def test_an_unanswered_call_appears_live_and_only_one_operator_claims_it(
    portal: Portal, browser: Browser, harness: Harness
) -> None:
    first = _operator(portal, browser)
    second = _operator(portal, browser)
    for console in (first, second):
        expect(console.locator("#desk-live")).to_have_text("Live updates: on.")
        console.evaluate("window.stayedOnThisPage = true")

    call = data.urgent_call(PRACTICE)
    harness.producer.send_intake(call)
    dispatch_id = dispatch_id_for(call.event_id)
    row = first.locator(f'#desk-queue tr[data-dispatch="{dispatch_id}"]')
    expect(row).to_be_visible(timeout=30_000)
    expect(row).to_contain_text("Urgent")
    expect(row).to_contain_text(f"Test practice {PRACTICE}")
    assert data.SYNTHETIC_PATIENT not in first.content()
    expect(first.locator("#desk-announce")).to_contain_text("New urgent alert")
    assert first.evaluate("window.stayedOnThisPage") is True  # no reload, no navigation
    assert first.evaluate("window.tones") >= 1  # the console sounded
    age = row.locator(".age")
    shown = age.inner_text()
    expect(age).not_to_have_text(shown, timeout=5_000)  # the age ticks
    other_row = second.locator(f'#desk-queue tr[data-dispatch="{dispatch_id}"]')
    expect(other_row).to_be_visible()
    assert serious_violations(first) == []
    # A console opened now shows the alert from the page, then from the stream's
    # snapshot: still one row, filled in the same way.
    opened = second.context.new_page()
    errors: list[str] = []
    for console in (first, second, opened):
        console.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(f"{portal.url}/portal/desk")
    expect(opened.locator("#desk-live")).to_have_text("Live updates: on.")
    opened_row = opened.locator(f'#desk-queue tr[data-dispatch="{dispatch_id}"]')
    expect(opened_row).to_have_count(1)
    expect(opened_row).to_contain_text(f"Urgent Test practice {PRACTICE}")
    expect(opened_row.get_by_role("button", name=re.compile("Claim the urgent"))).to_be_visible()
    # The second operator also has a tab whose live updates lag (no stream): it still
    # shows the alert after the first operator claims it, as if both clicked at once.
    lagging = second.context.new_page()
    lagging.route("**/v1/desk/stream", lambda route: route.abort())
    lagging.goto(f"{portal.url}/portal/desk")
    stale_row = lagging.locator(f'#desk-queue tr[data-dispatch="{dispatch_id}"]')
    expect(stale_row).to_be_visible()

    row.get_by_role("button", name=re.compile("Claim")).click()
    expect(first.get_by_role("status")).to_contain_text("You claimed the alert")
    claims = first.locator(".desk-claims")
    expect(claims).to_contain_text(f"Test practice {PRACTICE}")

    expect(other_row).to_have_count(0)  # gone from the other consoles, live
    expect(opened_row).to_have_count(0)
    expect(opened.locator("#desk-empty")).to_be_visible()
    assert errors == []
    stale_row.get_by_role("button", name=re.compile("Claim")).click()
    expect(lagging.get_by_role("alert")).to_contain_text("already claimed by another operator")
    expect(lagging.locator(".desk-claims")).to_have_count(0)

    first.reload()
    expect(first.locator(".desk-claims")).to_contain_text(f"Test practice {PRACTICE}")
    first.get_by_label("Outcome").select_option("caller_advised_911")
    first.get_by_label("Note (kept sealed)").fill("advised ER, synthetic")
    first.get_by_role("button", name="Resolve").click()
    expect(first.get_by_role("status")).to_contain_text("Resolved")
    expect(first.get_by_text("You hold no claimed alert.")).to_be_visible()
    audit = wait_for(
        lambda: [
            a for a in harness.read("audit")
            if a.subject_id == dispatch_id and a.action == "desk_outcome"
        ],
        15,
        "the outcome in the audit",
    )  # fmt: skip
    assert audit[0].detail.startswith("outcome=caller_advised_911")


def test_the_script_names_who_is_on_call_and_a_page_goes_out(
    portal: Portal, browser: Browser, harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    page = _operator(portal, browser)
    page.get_by_label("Practice called").select_option(PRACTICE)
    page.get_by_role("button", name="Show the script").click()
    script = page.locator(".desk-script")
    expect(script).to_contain_text("Thank you for calling Test practice")
    expect(script).to_contain_text(re.compile("Office (open|closed)"))
    expect(script).to_contain_text("Dr. Ada Ash is on call now, then Dr. Ben Birch")
    expect(script.locator(".desk-chain li").first).to_contain_text("Dr. Ada Ash")
    assert serious_violations(page) == []
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # fits a phone
    expect(page.get_by_role("button", name="Page now")).to_be_visible()

    page.get_by_label("Callback number").fill("not a number")
    page.get_by_label("Message for the clinician").fill(TYPED)
    page.get_by_role("button", name="Page now").click()
    expect(page.get_by_role("alert")).to_contain_text("Callback number")
    expect(page.get_by_label("Message for the clinician")).to_have_value(TYPED)

    page.get_by_label("Callback number").fill(data.SYNTHETIC_CALLBACK)
    form = page.locator("form.desk-page")
    fields = {
        name: form.locator(f'[name="{name}"]').first.input_value()
        for name in ("csrf_token", "event_id", "practice_id", "caller_type", "callback_number",
                     "reason", "urgency", "message")
    }  # fmt: skip
    page.get_by_role("button", name="Page now").click()
    expect(page.get_by_role("status")).to_contain_text("Page sent")
    again = page.request.post(f"{portal.url}/portal/desk/page", form=fields)
    assert again.status == 409 and "went out already" in again.text()
    intake = wait_for(
        lambda: [e for e in harness.read("intake") if e.message == TYPED],
        15,
        "the page's intake event",
    )
    assert len(intake) == 1  # the form sent twice paged once
    assert intake[0].source_system.startswith("desk.") and intake[0].practice_id == PRACTICE
    wait_for(lambda: harness.pushes(dispatch_id_for(intake[0].event_id)), 15, "the push")
    assert caplog.records and TYPED not in caplog.text  # the API's logs
    assert TYPED not in harness.log_text()
