"""The practice settings pages in a real browser, against the real stack: an escalation
timeout changed shows the new time before the desk (and a form read before another
save is refused in plain words), a layer previewed then saved, a message tried against
the triage rules (and never logged), a closed day added and removed; no serious
accessibility violation on any of the four pages."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from engine.practice_files import load_practice_file
from tests.integration.api_client import api_settings
from tests.integration.harness import Harness
from tests.integration.portal_browser import (
    Portal,
    chromium,
    new_page,
    serious_violations,
    serve_portal,
    sign_in,
)

MAPLE = Path(__file__).resolve().parents[2] / "deploy" / "practices" / "maple-pediatrics.yaml"
BASE = "/portal/practices/maple-set"


@pytest.fixture(scope="module")
def portal(harness: Harness) -> Iterator[Portal]:
    practice = load_practice_file(MAPLE).practice.model_copy(update={"practice_id": "maple-set"})
    harness.load_practice(practice, [])
    with serve_portal(api_settings(harness.settings, harness.log_dir)) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def admin_page(portal: Portal, browser: Browser, path: str) -> Page:
    page = new_page(browser)
    name, secret = portal.account("admin", {"practice_admin"}, {"maple-set"}, totp=True)
    sign_in(page, portal, name, secret)
    page.goto(f"{portal.url}{BASE}{path}")
    assert serious_violations(page) == []
    return page


def test_a_changed_timeout_shows_the_new_time_before_the_desk(
    portal: Portal, browser: Browser
) -> None:
    page = admin_page(portal, browser, "/escalation")
    # STAT 45 s paged twice, second call 60 s, medical director 90 s
    expect(page.locator("#chain-emergency")).to_have_text(
        "If nobody answers, the desk is alerted after 4 min."
    )
    stale = page.context.new_page()
    stale.goto(page.url)
    emergency = page.get_by_role("region", name="Emergency")
    emergency.get_by_label("Wait for an acceptance (seconds)").nth(1).fill("75")
    emergency.get_by_role("button", name="Save emergency escalation").click()
    expect(page.get_by_role("status")).to_contain_text("Saved the emergency escalation")
    expect(page.locator("#chain-emergency")).to_have_text(
        "If nobody answers, the desk is alerted after 4 min 15 s."
    )
    assert serious_violations(page) == []

    urgent = stale.get_by_role("region", name="Urgent")
    urgent.get_by_label("Re-pages").first.fill("2")
    urgent.get_by_role("button", name="Save urgent escalation").click()
    expect(stale.get_by_role("alert")).to_contain_text("Someone else saved a change")
    expect(stale.locator("#chain-urgent")).to_contain_text("15 min")  # unchanged: 300 s x2, 300 s

    urgent = stale.get_by_role("region", name="Urgent")
    urgent.get_by_label("Who (one a line", exact=False).first.fill("nobody in particular")
    urgent.get_by_role("button", name="Save urgent escalation").click()
    expect(stale.get_by_role("alert")).to_contain_text("a target is one of")


def test_a_layer_is_previewed_for_14_days_then_saved(portal: Portal, browser: Browser) -> None:
    page = admin_page(portal, browser, "/rotations")
    layer = page.get_by_role("article", name=re.compile("Weeknight nurse practitioners"))
    expect(layer).to_contain_text("1. Sam Ruiz, NP, then 2. Lina Haddad, NP")
    layer.get_by_text("Edit Weeknight nurse practitioners").click()
    layer.get_by_label("Participants, in turn order", exact=False).fill("np-haddad\nnp-ruiz")
    layer.get_by_label("Shift length").fill("2")
    layer.get_by_role("button", name="Preview 14 days").click()

    layer = page.get_by_role("article", name=re.compile("Weeknight nurse practitioners"))
    preview = layer.get_by_role("region", name=re.compile("Preview, not saved"))
    expect(preview.get_by_role("table", name="Primary")).to_contain_text("Lina Haddad, NP")
    expect(preview.get_by_role("table", name="Backup")).to_be_visible()
    expect(layer).to_contain_text("1. Sam Ruiz, NP, then 2. Lina Haddad, NP")  # not saved
    assert serious_violations(page) == []

    layer.get_by_label("Participants, in turn order", exact=False).fill("np-haddad\ndr-nobody")
    layer.get_by_role("button", name="Preview 14 days").click()
    expect(page.get_by_role("alert")).to_contain_text("dr-nobody")

    layer = page.get_by_role("article", name=re.compile("Weeknight nurse practitioners"))
    layer.get_by_label("Participants, in turn order", exact=False).fill("np-haddad\nnp-ruiz")
    layer.get_by_role("button", name="Save layer").click()
    expect(page.get_by_role("status")).to_contain_text("Saved layer weeknight-np")
    layer = page.get_by_role("article", name=re.compile("Weeknight nurse practitioners"))
    expect(layer).to_contain_text("1. Lina Haddad, NP, then 2. Sam Ruiz, NP; each 2 days")


def test_a_tried_message_shows_its_urgency_and_is_never_logged(
    portal: Portal, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    page = admin_page(portal, browser, "/triage")
    typed = "Quillon-7 is not breathing properly since tonight"
    page.get_by_label("Message", exact=True).fill(typed)
    page.get_by_label("Reason code").select_option("symptoms")
    page.get_by_role("button", name="Try it").click()
    answer = page.locator("#triage-answer")
    expect(answer).to_contain_text("Urgency: emergency")
    expect(page.get_by_label("Message", exact=True)).to_have_value(typed)
    assert serious_violations(page) == []
    assert "Quillon-7" not in caplog.text

    page.get_by_label("Emergency phrases").fill("barking cough")
    page.get_by_role("button", name="Save triage rules").click()
    expect(page.get_by_role("status")).to_contain_text("Saved the triage rules")
    page.get_by_label("Message", exact=True).fill("a barking cough all night")
    page.get_by_role("button", name="Try it").click()
    expect(page.locator("#triage-answer")).to_contain_text("Urgency: emergency")


def test_a_closed_day_is_added_and_removed(portal: Portal, browser: Browser) -> None:
    page = admin_page(portal, browser, "/office-hours")
    holidays = page.get_by_role("table", name="Public holidays of US")
    expect(holidays).to_contain_text("Independence Day")  # always in the coming 12 months
    page.get_by_label("Close the office on").fill("2030-03-15")
    page.get_by_role("button", name="Add closed day").click()
    expect(page.get_by_role("status")).to_contain_text("Added the closed day")
    expect(page.locator("#closed-list")).to_contain_text("Fri 15 Mar 2030")
    assert serious_violations(page) == []
    page.get_by_role("button", name="Open again on Fri 15 Mar 2030").click()
    expect(page.get_by_role("status")).to_contain_text("open on that day again")
    expect(page.locator("#closed-list")).not_to_contain_text("15 Mar 2030")

    page.get_by_label("Friday").fill("08:00-12:00, 16:00-13:00")
    page.get_by_role("button", name="Save weekly hours").click()
    expect(page.get_by_role("alert")).to_contain_text("must be after start")
    expect(page.get_by_label("Friday")).to_have_value("08:00-12:00, 16:00-13:00")
