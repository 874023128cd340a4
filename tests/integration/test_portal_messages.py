"""The portal's messages, usage and audit log in a real browser, beside a real worker: an
urgent call paged, re-paged and accepted shows in that order on its timeline; showing
the message is audited and the view is in the audit log; once purged, the page says so;
usage counts the call in a table, a chart and a CSV download; the audit API pages
without loss or repeat; no serious accessibility violation on any of these pages."""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from engine.handlers.intake import dispatch_id_for
from engine.push.content import PushContent
from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.audit import AuditEvent
from engine.schemas.intake import Urgency
from tests.integration import scenario_data as data
from tests.integration.api_client import api_settings
from tests.integration.harness import Harness, wait_for
from tests.integration.portal_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Portal,
    new_page,
    serious_violations,
    serve_portal,
    sign_in,
)

PRACTICE = "msg-p"
OTHER = "msg-other"


@pytest.fixture(scope="module")
def portal(harness: Harness) -> Iterator[Portal]:
    harness.load_practice(data.practice(OTHER), [])
    harness.load_practice(
        data.practice(PRACTICE, timeout_s=3, repeats=1), data.devices_for("dr-ash", "dr-birch")
    )
    with serve_portal(api_settings(harness.settings, harness.log_dir)) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium as ``portal_browser.chromium`` launches it, and trusting the test
    server's certificate: Chromium cancels any download from an origin whose certificate
    it does not trust, even with ``ignore_https_errors`` (a real deployment's certificate
    is trusted)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--ignore-certificate-errors"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def accepted(harness: Harness, portal: Portal) -> str:
    """An urgent call paged, re-paged after no answer, then accepted: its dispatch id.
    The harness's recording push gateway keeps no content, so the test puts the message
    in the vault as an encrypting deployment's intake does."""
    event = data.urgent_call(PRACTICE)
    dispatch_id = dispatch_id_for(event.event_id)
    content = PushContent(
        dispatch_id=dispatch_id, urgency=Urgency.URGENT, patient_name=data.SYNTHETIC_PATIENT,
        callback_number=data.SYNTHETIC_CALLBACK, message=data.SYNTHETIC_MESSAGE,
        practice_name="Test practice",
    )  # fmt: skip
    assert portal.run(portal.services.vault.put(content))
    harness.producer.send_intake(event)
    wait_for(
        lambda: [p for p in harness.pushes(dispatch_id) if p["attempt"] == 2], 30, "the re-page"
    )
    accept = Acknowledgement(
        dispatch_id=dispatch_id, clinician_id="dr-ash", kind=AckKind.ACCEPTED,
        at=datetime.now(UTC),
    )  # fmt: skip
    harness.producer.send_ack(accept)
    return dispatch_id


def _admin(portal: Portal, browser: Browser) -> Page:
    page = new_page(browser)
    name, secret = portal.account("admin", {"practice_admin"}, {PRACTICE}, totp=True)
    sign_in(page, portal, name, secret)
    return page


def _until(page: Page, url: str, ready: Callable[[], bool], what: str) -> None:
    """Open ``url`` again until the read model has caught up."""

    def opened() -> bool:
        page.goto(url)
        return ready()

    wait_for(opened, 30, what, every=0.5)


def test_the_timeline_shows_page_repage_and_accept_and_a_view_is_audited(
    portal: Portal, browser: Browser, accepted: str
) -> None:
    page = _admin(portal, browser)
    base = f"{portal.url}/portal/practices/{PRACTICE}"
    _until(page, f"{base}/messages?urgency=urgent", lambda: page.locator("tbody tr").count() > 0,
           "the message in the list")  # fmt: skip
    assert serious_violations(page) == []
    page.get_by_role("link", name=re.compile("urgent message, timeline")).first.click()
    expect(page).to_have_url(re.compile(f"/messages/{accepted}$"))
    labels = page.locator("ol.timeline > li strong")
    _until(page, page.url, lambda: "Accepted" in labels.all_inner_texts(), "the acceptance")
    steps = labels.all_inner_texts()
    assert steps.index("Paged") < steps.index("Re-paged (no answer)") < steps.index("Accepted")
    assert serious_violations(page) == []
    assert data.SYNTHETIC_MESSAGE not in page.content()  # not before "Show message"
    _fits_a_phone(page)

    page.goto(f"{base}/messages?status=accepted&urgency=urgent")
    expect(page.locator("tbody tr")).to_have_count(1)
    page.goto(f"{base}/messages?status=cancelled")
    expect(page.get_by_role("status")).to_contain_text("No dispatch matches")
    page.goto(f"{base}/messages/{accepted}")

    page.get_by_role("button", name="Show message").click()
    expect(page.get_by_text(data.SYNTHETIC_MESSAGE)).to_be_visible()
    expect(page.get_by_text(data.SYNTHETIC_CALLBACK)).to_be_visible()

    audit = f"{base}/audit?action=message_viewed&subject_id={accepted}"
    rows = page.locator("tbody tr")
    _until(page, audit, lambda: rows.count() == 1, "the view in the audit log")
    expect(rows.first).to_contain_text("Message viewed in the portal")
    expect(rows.first.get_by_role("link", name=accepted)).to_be_visible()
    assert data.SYNTHETIC_MESSAGE not in page.content()
    assert serious_violations(page) == []

    portal.run(portal.services.vault.forget(accepted))  # as retention would
    page.goto(f"{base}/messages/{accepted}")
    expect(page.get_by_role("status")).to_contain_text("purged")
    expect(page.get_by_role("button", name="Show message")).to_have_count(0)


def test_usage_counts_the_call_in_a_table_a_chart_and_a_csv(
    portal: Portal, browser: Browser, accepted: str, tmp_path: Path
) -> None:
    page = new_page(browser)
    name, _ = portal.account("billing", {"billing"}, {PRACTICE})
    sign_in(page, portal, name)
    today = datetime.now(ZoneInfo("America/New_York")).date().isoformat()
    usage = f"{portal.url}/portal/practices/{PRACTICE}/usage?period=day"
    _until(page, usage, lambda: _cells(page, today).get("repages", "0") != "0", "re-pages")
    cells = _cells(page, today)
    assert cells["calls"] == "1" and cells["dispatches urgent"] == "1"
    chart = page.get_by_role("img", name="Calls per day")
    expect(chart).to_be_visible()
    assert chart.locator("rect").count() == 30
    assert serious_violations(page) == []
    _fits_a_phone(page)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    saved = tmp_path / "usage.csv"
    download.value.save_as(saved)
    rows = {r["period"]: r for r in csv.DictReader(saved.read_text().splitlines())}
    assert rows[today]["calls"] == "1" and int(rows[today]["repages"]) >= 1

    page.goto(f"{portal.url}/portal/practices/{PRACTICE}/usage?period=month")
    assert _cells(page, today[:7])["calls"] == "1"


def _fits_a_phone(page: Page) -> None:
    """At 375 px wide the page does not scroll sideways (a wide table scrolls in its box)."""
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.set_viewport_size({"width": 1280, "height": 900})


def _cells(page: Page, period: str) -> dict[str, str]:
    heads = page.locator("thead th").all_inner_texts()
    row = page.locator("tbody tr", has=page.locator(f'th:text-is("{period}")'))
    if row.count() != 1:
        return {}
    values = [row.locator("th").inner_text(), *row.locator("td").all_inner_texts()]
    return dict(zip(heads, values, strict=True))


def test_the_audit_api_pages_newest_first_without_loss_or_repeat(
    harness: Harness, portal: Portal, browser: Browser
) -> None:
    page = _admin(portal, browser)
    same_ms = datetime(2026, 11, 3, 14, 0, 0, 123000, tzinfo=UTC)
    subjects = [f"chg-{uuid.uuid4().hex[:6]}" for _ in range(7)]
    for i, subject in enumerate(subjects):  # four at the very same millisecond
        at = same_ms if i < 4 else same_ms.replace(minute=i)
        harness.producer.send_audit(AuditEvent(
            at=at, practice_id=PRACTICE, subject_type="practice", subject_id=subject,
            actor="cli:pager-test", action="schedule_changed", detail="layers",
        ))  # fmt: skip
    api = f"{portal.url}/v1/admin/practices/{PRACTICE}/audit?actor=cli:pager-test&limit=3"

    def every_page() -> list[dict[str, str]]:
        found, before = [], ""
        while True:
            answer = page.request.get(api + (f"&before={before}" if before else ""))
            assert answer.status == 200
            body = answer.json()
            assert len(body["records"]) <= 3
            found += body["records"]
            before = body["next_before"]
            if not before:
                return found

    def all_seven() -> list[dict[str, str]] | None:
        found = every_page()
        return found if len(found) >= 7 else None

    records = wait_for(all_seven, 30, "the records")
    assert sorted(r["subject_id"] for r in records) == sorted(subjects)
    assert [r["subject_id"] for r in records[:3]] == subjects[6:3:-1]  # newest first
    assert page.request.get(api.replace(PRACTICE, OTHER)).status == 404
    for path in ("audit", "messages", "usage"):
        other = page.goto(f"{portal.url}/portal/practices/{OTHER}/{path}")
        assert other is not None and other.status == 404
