"""Users and shift swaps in the portal, in a real browser on the real stack: an
administrator invites someone (the one-time password shown once), disables an account
(that person can no longer sign in), resets a password (the person must set a new one);
a clinician asks to swap a shift and the administrator approves it, which makes the
override. No serious accessibility violation on the users and swaps pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from engine.domain.practice import Practice
from engine.practice_files import load_practice_file
from tests.integration.api_client import api_settings
from tests.integration.harness import Harness
from tests.integration.portal_browser import (
    PASSWORD,
    Portal,
    chromium,
    new_page,
    serious_violations,
    serve_portal,
    sign_in,
)

MAPLE = Path(__file__).resolve().parents[2] / "deploy" / "practices" / "maple-pediatrics.yaml"
PRACTICE = "maple-users"


@pytest.fixture(scope="module")
def portal(harness: Harness) -> Iterator[Portal]:
    practice = load_practice_file(MAPLE).practice.model_copy(update={"practice_id": PRACTICE})
    harness.load_practice(practice, [])
    with serve_portal(api_settings(harness.settings, harness.log_dir)) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _admin_page(portal: Portal, browser: Browser) -> Page:
    page = new_page(browser)
    name, secret = portal.account("admin", {"practice_admin"}, {PRACTICE}, totp=True)
    sign_in(page, portal, name, secret)
    return page


def _try_sign_in(page: Page, portal: Portal, username: str, password: str) -> None:
    page.goto(f"{portal.url}/portal/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_an_administrator_invites_someone_and_sees_the_password_once(
    portal: Portal, browser: Browser
) -> None:
    admin = _admin_page(portal, browser)
    admin.goto(f"{portal.url}/portal/users")
    expect(admin.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    assert serious_violations(admin) == []
    admin.get_by_label("Username", exact=True).fill("newcomer@maple-users")
    admin.locator("#invite-role-clinician").check()
    admin.get_by_label("Clinician id").fill("np-ruiz")
    admin.get_by_role("button", name="Invite").click()
    expect(admin.get_by_role("heading", name="Invited newcomer@maple-users")).to_be_visible()
    one_time = admin.get_by_label("One-time password").input_value()
    assert len(one_time) >= 12
    expect(admin.get_by_role("button", name="Copy")).to_be_visible()
    assert serious_violations(admin) == []
    admin.goto(f"{portal.url}/portal/users")
    expect(admin.get_by_role("row", name=re.compile("newcomer@maple-users"))).to_contain_text(
        "never"
    )
    assert one_time not in admin.content()  # shown once, kept nowhere

    person = new_page(browser)
    _try_sign_in(person, portal, "newcomer@maple-users", one_time)
    expect(person.get_by_role("heading", name="Set your password")).to_be_visible()
    assert serious_violations(person) == []  # the set-password page


def test_a_disabled_account_can_no_longer_sign_in(portal: Portal, browser: Browser) -> None:
    name, _ = portal.account("brandt", {"clinician"}, {PRACTICE}, clinician_id="dr-brandt")
    person = new_page(browser)
    sign_in(person, portal, name)
    admin = _admin_page(portal, browser)
    admin.goto(f"{portal.url}/portal/users")
    admin.get_by_role("button", name=f"Disable {name}").click()
    row = admin.get_by_role("row", name=re.compile(re.escape(name)))
    expect(row).to_contain_text("Disabled")
    expect(admin.get_by_role("button", name=f"Enable {name}")).to_be_visible()
    person.goto(f"{portal.url}/portal/me")  # the session ended with the disabling
    expect(person).to_have_url(re.compile(r"/portal/sign-in"))
    _try_sign_in(person, portal, name, PASSWORD)
    expect(person.get_by_role("alert")).to_contain_text("wrong")


def test_a_reset_password_must_be_replaced_at_the_next_sign_in(
    portal: Portal, browser: Browser
) -> None:
    name, _ = portal.account("haddad", {"clinician"}, {PRACTICE}, clinician_id="np-haddad")
    admin = _admin_page(portal, browser)
    admin.goto(f"{portal.url}/portal/users")
    admin.get_by_role("button", name=f"Reset the password of {name}").click()
    expect(admin.get_by_role("heading", name=f"Password reset for {name}")).to_be_visible()
    one_time = admin.get_by_label("One-time password").input_value()

    person = new_page(browser)
    _try_sign_in(person, portal, name, PASSWORD)
    expect(person.get_by_role("alert")).to_contain_text("wrong")  # the old one is gone
    _try_sign_in(person, portal, name, one_time)
    expect(person.get_by_role("heading", name="Set your password")).to_be_visible()
    person.get_by_label("Current or one-time password").fill(one_time)
    person.get_by_label("New password").fill("haddad's own new passphrase")
    person.get_by_role("button", name="Set password").click()
    _try_sign_in(person, portal, name, "haddad's own new passphrase")
    expect(person.get_by_role("button", name="Sign out")).to_be_visible()


def _override_notes(portal: Portal) -> dict[str, str]:
    practice: Practice = portal.run(
        portal.services.run_store(portal.services.practice_store.get, PRACTICE)
    )
    return {o.note: o.clinician_id for g in practice.coverage_groups for o in g.overrides}


def test_a_clinician_asks_to_swap_and_the_administrator_approves(
    portal: Portal, browser: Browser
) -> None:
    name, _ = portal.account("okafor", {"clinician"}, {PRACTICE}, clinician_id="dr-okafor")
    clinician = new_page(browser)
    sign_in(clinician, portal, name)
    clinician.goto(f"{portal.url}/portal/me")
    clinician.get_by_text("Swap this shift with...").first.click()
    clinician.get_by_label(re.compile("^Colleague for")).first.select_option(
        label="Dr. Luis Castellanos"
    )
    clinician.get_by_label("Note (optional)").first.fill("a family wedding")
    clinician.get_by_role("button", name="Ask to swap").first.click()
    expect(clinician.get_by_role("status").filter(has_text="swap request was sent")).to_be_visible()

    admin = _admin_page(portal, browser)
    admin.get_by_role("link", name="Swap requests").click()
    expect(admin).to_have_url(re.compile(rf"/portal/practices/{PRACTICE}/swaps$"))
    pending = admin.get_by_role("listitem").filter(has_text="Dr. Ada Okafor asks")
    expect(pending).to_contain_text("Dr. Luis Castellanos")
    expect(pending).to_contain_text("a family wedding")
    assert serious_violations(admin) == []
    assert not any(note.startswith("swap ") for note in _override_notes(portal))
    pending.get_by_role("button", name=re.compile("^Approve")).click()
    expect(admin.get_by_role("row", name=re.compile("Approved"))).to_contain_text("Dr. Ada Okafor")
    expect(admin.get_by_text("No request is waiting.")).to_be_visible()
    assert serious_violations(admin) == []
    swapped = {n: c for n, c in _override_notes(portal).items() if n.startswith("swap ")}
    assert list(swapped.values()) == ["dr-castellanos"]
