"""The portal's sign-in, sessions and scoping in a real browser: password then TOTP,
the practice home, a form without its CSRF token refused, no page of another practice,
idle logoff after a warning, and no serious accessibility violation on these pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

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


@pytest.fixture(scope="module")
def portal(harness: Harness) -> Iterator[Portal]:
    for practice_id in ("maple-a", "maple-b"):
        practice = load_practice_file(MAPLE).practice.model_copy(
            update={"practice_id": practice_id}
        )
        harness.load_practice(practice, [])
    with serve_portal(api_settings(harness.settings, harness.log_dir)) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_an_administrator_signs_in_with_a_code_and_sees_the_practice_home(
    portal: Portal, browser: Browser
) -> None:
    page = new_page(browser)
    page.goto(f"{portal.url}/portal/sign-in")
    assert serious_violations(page) == []
    name, secret = portal.account("admin", {"practice_admin"}, {"maple-a"}, totp=True)
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("wrong password, surely")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Code")).to_be_visible()
    assert serious_violations(page) == []  # the code step
    sign_in(page, portal, name, secret)
    expect(page).to_have_url(re.compile(r"/portal/practices/maple-a$"))
    expect(page.get_by_role("heading", name="On call now")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Pediatrics after hours"))).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-nightline")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert serious_violations(page) == []


def test_a_form_without_its_csrf_token_is_refused(portal: Portal, browser: Browser) -> None:
    page = new_page(browser)
    name, _ = portal.account("clin", {"clinician"}, {"maple-a"}, clinician_id="dr-okafor")
    sign_in(page, portal, name)
    expect(page.get_by_role("heading", name="My shifts")).to_be_visible()
    assert serious_violations(page) == []  # the clinician's own page
    elsewhere = page.request.post(
        f"{portal.url}/portal/sign-in", form={"username": name, "password": "x" * 12},
        headers={"Origin": "https://attacker.example"},
    )  # fmt: skip
    assert elsewhere.status == 403  # login CSRF: a sign-in from another site is refused
    forged = page.request.post(f"{portal.url}/portal/sign-out", form={"reason": "out"})
    assert forged.status == 403 and "CSRF" in forged.text()
    no_header = page.request.post(f"{portal.url}/portal/keepalive")
    assert no_header.status == 403
    token = page.locator("body").get_attribute("data-csrf")
    kept = page.request.post(
        f"{portal.url}/portal/keepalive", headers={"X-CSRF-Token": token or ""}
    )
    assert kept.status == 204
    page.reload()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()  # still signed in
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("signed out")
    page.goto(f"{portal.url}/portal/practices/maple-a")
    expect(page).to_have_url(re.compile(r"/portal/sign-in\?next="))


def test_no_page_of_another_practice_opens(portal: Portal, browser: Browser) -> None:
    page = new_page(browser)
    name, secret = portal.account("admin", {"practice_admin"}, {"maple-a"}, totp=True)
    sign_in(page, portal, name, secret)
    for path in ("/portal/practices/maple-b", "/portal/practices/no-such-practice"):
        answer = page.goto(f"{portal.url}{path}")
        assert answer is not None and answer.status == 404
        expect(page.get_by_role("alert")).to_contain_text("No practice of yours")
        assert serious_violations(page) == []  # the error page
    both = new_page(browser)
    name, secret = portal.account("admin", {"practice_admin"}, {"maple-a", "maple-b"}, totp=True)
    sign_in(both, portal, name, secret)
    expect(both.get_by_role("heading", name="Practices")).to_be_visible()  # choose one
    assert serious_violations(both) == []
    clinician = new_page(browser)
    name, _ = portal.account("clin", {"clinician"}, {"maple-a"}, clinician_id="dr-brandt")
    sign_in(clinician, portal, name)
    answer = clinician.goto(f"{portal.url}/portal/practices/maple-a")
    assert answer is not None and answer.status == 403  # a clinician has no admin pages
    assert "maple-b" not in clinician.content()


def test_an_idle_session_is_warned_then_signed_out(harness: Harness, browser: Browser) -> None:
    settings = api_settings(harness.settings, harness.log_dir, session_idle_s=9)
    with serve_portal(settings) as short:
        page = new_page(browser)
        name, _ = short.account("clin", {"clinician"}, {"maple-a"}, clinician_id="dr-okafor")
        sign_in(page, short, name)
        expect(page.get_by_role("dialog")).to_be_visible(timeout=10_000)
        expect(page.get_by_role("dialog")).to_contain_text("signed out")
        expect(page).to_have_url(re.compile(r"/portal/sign-in\?reason=idle"), timeout=15_000)
        expect(page.get_by_role("status")).to_contain_text("without activity")
        page.goto(f"{short.url}/portal/me")
        expect(page).to_have_url(re.compile(r"/portal/sign-in"))


def test_a_tab_left_open_does_not_sign_out_a_person_working_in_another(
    harness: Harness, browser: Browser
) -> None:
    settings = api_settings(harness.settings, harness.log_dir, session_idle_s=9)
    with serve_portal(settings) as short:
        left_open = new_page(browser)
        name, _ = short.account("clin", {"clinician"}, {"maple-a"}, clinician_id="dr-okafor")
        sign_in(left_open, short, name)
        working = left_open.context.new_page()
        for _ in range(6):  # 18 s of work in the other tab: twice the idle limit
            working.goto(f"{short.url}/portal/me")
            working.wait_for_timeout(3_000)
        assert "/portal/me" in left_open.url  # still there, not signed out
        expect(left_open.get_by_role("button", name="Sign out")).to_be_visible()
        working.close()
        expect(left_open).to_have_url(re.compile(r"reason=idle"), timeout=20_000)
