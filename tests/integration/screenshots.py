"""The README's screenshots of the portal, taken with the browser tests' own setup
(the real stack and worker, the API over TLS, Debian's Chromium): the on-call calendar,
a dispatch's timeline and the operator console. ``make screenshots`` runs this and
rewrites ``docs/img/*.png``.

Run with the test stack's environment (the Makefile sets it); it starts the stack if
it is not running, and leaves it as it found it.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Page, expect

from engine.handlers.intake import dispatch_id_for
from engine.practice_files import load_practice_file
from engine.schemas.acks import AckKind, Acknowledgement
from engine.settings import load_settings
from engine.stack import stack_up
from tests.integration import scenario_data as data
from tests.integration.api_client import api_settings
from tests.integration.harness import Harness, wait_for
from tests.integration.portal_browser import Portal, chromium, new_page, serve_portal, sign_in

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "img"
MAPLE = ROOT / "deploy" / "practices" / "maple-pediatrics.yaml"
QUICK = "riverside"  # a practice whose timeouts are seconds, so the timeline fills fast


def _reload_until(page: Page, url: str, text: str) -> None:
    def shown() -> bool:
        page.goto(url)
        return text in page.content()

    wait_for(shown, 60, text, every=1)


def calendar(portal: Portal, page: Page) -> None:
    page.goto(f"{portal.url}/portal/practices/maple-peds/calendar?view=week")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.screenshot(path=str(IMAGES / "calendar.png"), full_page=True)


def timeline(portal: Portal, page: Page, harness: Harness) -> None:
    call = data.urgent_call(QUICK)
    harness.producer.send_intake(call)
    dispatch_id = dispatch_id_for(call.event_id)
    wait_for(lambda: len(harness.pushes(dispatch_id)) >= 2, 60, "the page and the re-page")
    harness.producer.send_ack(Acknowledgement(
        dispatch_id=dispatch_id, clinician_id="dr-ash", kind=AckKind.ACCEPTED, at=datetime.now(UTC),
    ))  # fmt: skip
    url = f"{portal.url}/portal/practices/{QUICK}/messages/{dispatch_id}"
    _reload_until(page, url, "Accepted")
    page.screenshot(path=str(IMAGES / "timeline.png"), full_page=True)


def console(portal: Portal, page: Page, harness: Harness) -> None:
    page.goto(f"{portal.url}/portal/desk?practice={QUICK}-desk")  # with its call script
    expect(page.locator("#desk-live")).to_have_text("Live updates: on.")
    call = data.urgent_call(f"{QUICK}-desk")
    harness.producer.send_intake(call)
    row = page.locator(f'#desk-queue tr[data-dispatch="{dispatch_id_for(call.event_id)}"]')
    expect(row).to_be_visible(timeout=60_000)
    time.sleep(2)  # let the ages tick once
    page.screenshot(path=str(IMAGES / "console.png"))  # the queue and the script


def main() -> None:
    settings = load_settings()
    stack_up(settings)
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        harness = Harness(settings, Path(work))
        harness.start_worker()
        try:
            clinicians = [c.clinician_id for c in load_practice_file(MAPLE).practice.clinicians]
            harness.load_practice(load_practice_file(MAPLE).practice, data.devices_for(*clinicians))
            quick = data.practice(QUICK, timeout_s=3, repeats=1)
            harness.load_practice(quick.model_copy(update={"name": "Riverside Family Medicine"}),
                                  data.devices_for("dr-ash", "dr-birch"))  # fmt: skip
            desk = data.practice(f"{QUICK}-desk", timeout_s=2, repeats=0)
            harness.load_practice(desk.model_copy(update={"name": "Riverside After Hours"}),
                                  data.devices_for("dr-ash"))  # fmt: skip
            served = serve_portal(api_settings(harness.settings, harness.log_dir))
            with served as portal, chromium() as browser:
                admin = new_page(browser)
                name, secret = portal.account("admin", {"practice_admin"}, {"maple-peds", QUICK},
                                              totp=True)  # fmt: skip
                sign_in(admin, portal, name, secret)
                calendar(portal, admin)
                timeline(portal, admin, harness)
                operator = new_page(browser)
                name, _ = portal.account("operator", {"operator"}, {f"{QUICK}-desk"},
                                         desks={"desk-1"})  # fmt: skip
                sign_in(operator, portal, name)
                console(portal, operator, harness)
        finally:
            harness.close()
    print(f"screenshots written to {IMAGES}")


if __name__ == "__main__":
    main()
