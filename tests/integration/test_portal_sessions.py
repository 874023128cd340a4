"""The portal's cookie session when its access token expires: the requests a browser
sends at once with the same expired cookie (two tabs, a double click, a reconnecting
stream) share one renewal, and the session goes on, where spending the refresh token
twice would have ended it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from engine.api.browser_sessions import COOKIE
from engine.practice_files import load_practice_file
from tests.integration.api_client import RunningApi, api_settings, running_api
from tests.integration.harness import Harness
from tests.integration.test_portal_auth import MAPLE
from tests.integration.test_portal_scope import _browser


@pytest.fixture()
async def api(harness: Harness) -> AsyncIterator[RunningApi]:
    practice = load_practice_file(MAPLE).practice.model_copy(update={"practice_id": "scope-a"})
    harness.load_practice(practice, [])
    settings = api_settings(harness.settings, harness.log_dir, access_token_s=1)
    async with running_api(settings) as running:
        yield running


async def test_requests_racing_with_an_expired_cookie_share_one_renewal(api: RunningApi) -> None:
    client, _ = await _browser(api, {"clinician"}, clinician_id="dr-okafor")
    expired = client.cookies.get(COOKIE)
    assert expired
    await asyncio.sleep(1.5)  # the access token in the cookie has expired
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.test") as bare:
        answers = await asyncio.gather(*(
            bare.get("/portal/me", headers={"Cookie": f"{COOKIE}={expired}"}) for _ in range(4)
        ))  # fmt: skip
        assert [a.status_code for a in answers] == [200] * 4
        renewed = {a.cookies.get(COOKIE) for a in answers}
        assert len(renewed) == 1 and expired not in renewed  # one new pair, given to all
        again = await bare.get("/portal/me", headers={"Cookie": f"{COOKIE}={renewed.pop()}"})
        assert again.status_code == 200  # the session lives on
