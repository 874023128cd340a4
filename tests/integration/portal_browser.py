"""The portal in a real browser: the API (pages included) served over TLS by uvicorn in
a thread beside a harness's worker, and Debian's Chromium driven by Playwright.

`make test` installs Chromium (``apt-get install chromium``); Playwright's own browser
download cannot work here, so it launches ``/usr/bin/chromium``.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import uvicorn
from playwright.sync_api import Browser, Page, expect

from engine.api.app import create_api
from engine.api.services import ApiServices, build_api_services
from engine.settings import Settings
from engine.stack.local_tls import write_tls_files
from tests.integration.api_client import create_account
from tests.integration.harness import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip
"""Without the background-networking flags, Chromium keeps trying Google's hosts."""
PASSWORD = "correct horse battery staple"


@dataclass
class Portal:
    url: str
    settings: Settings
    services: ApiServices
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Any) -> Any:
        """Run a coroutine on the server's own loop (its Redis connections live there)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def account(
        self, name: str, roles: set[str], practices: set[str], **extra: Any
    ) -> tuple[str, str | None]:
        """(username, TOTP secret or None): an account with the test password."""
        return self.run(create_account(self.services, name, roles, practices, **extra))  # type: ignore[no-any-return]


@contextmanager
def serve_portal(settings: Settings) -> Iterator[Portal]:
    """The API app over TLS on a free port, in a thread with its own event loop."""
    _, cert, key = write_tls_files(Path(settings.state_dir) / "portal-tls", "Nightline test CA")
    port = free_port()
    services = build_api_services(settings)
    app = create_api(settings, services)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            ssl_certfile=str(cert), ssl_keyfile=str(key))  # fmt: skip
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/readyz", verify=False, timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        raise AssertionError("the portal did not become ready")
    try:
        yield Portal(url, settings, services, loop)
    finally:
        server.should_exit = True
        thread.join(15)


@contextmanager
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        raise AssertionError(
            f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser) -> Page:
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    return context.new_page()


def sign_in(page: Page, portal: Portal, username: str, secret: str | None = None) -> None:
    page.goto(f"{portal.url}/portal/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if secret is not None:
        page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:3])
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
