"""Signing in to the API on the real Redis: passwords, TOTP, lockout, throttling, token
rotation with reuse detection, device binding, sign-out, idle logoff and disabled
accounts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from tests.integration.api_client import RunningApi, api_settings, create_account, running_api
from tests.integration.harness import Harness

PASSWORD = "correct horse battery staple"


@pytest.fixture()
async def api(harness: Harness) -> AsyncIterator[RunningApi]:
    async with running_api(api_settings(harness.settings, harness.log_dir)) as running:
        await _forget_attempts(running)  # each test starts under the per-address cap
        yield running


async def _forget_attempts(api: RunningApi) -> None:
    await api.services.redis.delete(api.services.keys.sign_in_address("127.0.0.1"))


async def _sign_in(api: RunningApi, username: str, **extra: object) -> dict[str, object]:
    answer = await api.client.post(
        "/v1/auth/sign-in", json={"username": username, "password": PASSWORD, **extra}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _bearer(tokens: dict[str, object], device: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    if device:
        headers["X-Device-Id"] = device
    return headers


async def test_a_password_signs_in_and_wrong_ones_look_alike(api: RunningApi) -> None:
    name, _ = await create_account(api.services, "op", {"operator"}, {"p-1"}, desks={"desk-1"})
    tokens = await _sign_in(api, name)
    me = await api.client.get("/v1/me", headers=_bearer(tokens))
    assert me.status_code == 200
    assert me.json()["roles"] == ["operator"] and me.json()["desks"] == ["desk-1"]
    wrong = await api.client.post("/v1/auth/sign-in", json={"username": name, "password": "x" * 12})
    nobody = await api.client.post(
        "/v1/auth/sign-in", json={"username": "nobody-" + name, "password": "x" * 12}
    )
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json()
    assert (await api.client.get("/v1/me")).status_code == 401


async def test_administrators_need_a_fresh_totp_code(api: RunningApi) -> None:
    name, secret = await create_account(
        api.services, "admin", {"practice_admin"}, {"p-1"}, totp=True
    )
    assert secret is not None
    without = await api.client.post(
        "/v1/auth/sign-in", json={"username": name, "password": PASSWORD}
    )
    assert without.status_code == 401 and without.json()["type"].endswith("totp-required")
    code = pyotp.TOTP(secret).at(time.time())
    await _sign_in(api, name, totp=code)
    replayed = await api.client.post(
        "/v1/auth/sign-in", json={"username": name, "password": PASSWORD, "totp": code}
    )
    assert replayed.status_code == 401  # a code works once


async def test_repeated_failures_lock_the_account(api: RunningApi) -> None:
    name, _ = await create_account(
        api.services, "clin", {"clinician"}, {"p-1"}, clinician_id="dr-a"
    )
    for _ in range(api.services.settings.sign_in_lock_after):
        bad = await api.client.post(
            "/v1/auth/sign-in", json={"username": name, "password": "wrong password!"}
        )
        assert bad.status_code == 401
    locked = await api.client.post(
        "/v1/auth/sign-in", json={"username": name, "password": PASSWORD}
    )
    assert locked.status_code == 401


async def test_a_lock_holds_for_the_failing_address_and_spread_guessing_locks_everywhere(
    api: RunningApi,
) -> None:
    from engine.api.sessions import ACCOUNT_WIDE_FACTOR, SignInRefused

    sessions, limit = api.services.sessions, api.services.settings.sign_in_lock_after
    name, _ = await create_account(
        api.services, "clin", {"clinician"}, {"p-1"}, clinician_id="dr-a"
    )

    async def attempt(password: str, address: str) -> bool:
        try:
            await sessions.sign_in(name, password, None, None, address, datetime.now(UTC))
        except SignInRefused:
            return False
        return True

    for _ in range(limit):
        assert not await attempt("wrong password!", "203.0.113.7")
    assert not await attempt(PASSWORD, "203.0.113.7")  # locked for the guessing address
    assert await attempt(PASSWORD, "198.51.100.20")  # the clinician elsewhere signs in

    for n in range(limit * ACCOUNT_WIDE_FACTOR):  # a few failures each from many addresses
        assert not await attempt("wrong password!", f"192.0.2.{n // (limit - 1)}")
    assert not await attempt(PASSWORD, "198.51.100.21")  # now locked everywhere


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(
    api: RunningApi,
) -> None:
    name, _ = await create_account(
        api.services, "clin", {"clinician"}, {"p-1"}, clinician_id="dr-b"
    )
    first = await _sign_in(api, name, device_id="phone-1")
    refreshed = await api.client.post(
        "/v1/auth/refresh",
        json={"refresh_token": first["refresh_token"]},
        headers={"X-Device-Id": "phone-1"},
    )
    assert refreshed.status_code == 200
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await api.client.get("/v1/me", headers=_bearer(second, "phone-1"))).status_code == 200
    reused = await api.client.post(
        "/v1/auth/refresh",
        json={"refresh_token": first["refresh_token"]},
        headers={"X-Device-Id": "phone-1"},
    )
    assert reused.status_code == 401
    revoked = await api.client.get("/v1/me", headers=_bearer(second, "phone-1"))
    assert revoked.status_code == 401  # the whole family went with it


async def test_tokens_work_only_from_the_device_that_signed_in(api: RunningApi) -> None:
    name, _ = await create_account(
        api.services, "clin", {"clinician"}, {"p-1"}, clinician_id="dr-c"
    )
    tokens = await _sign_in(api, name, device_id="phone-1")
    assert (await api.client.get("/v1/me", headers=_bearer(tokens, "phone-1"))).status_code == 200
    assert (await api.client.get("/v1/me", headers=_bearer(tokens, "phone-2"))).status_code == 401
    assert (await api.client.get("/v1/me", headers=_bearer(tokens))).status_code == 401


async def test_sign_out_and_disabling_end_sessions(api: RunningApi) -> None:
    name, _ = await create_account(api.services, "op", {"operator"}, {"p-1"}, desks={"d"})
    tokens = await _sign_in(api, name)
    out = await api.client.post("/v1/auth/sign-out", headers=_bearer(tokens))
    assert out.status_code == 204
    assert (await api.client.get("/v1/me", headers=_bearer(tokens))).status_code == 401
    tokens = await _sign_in(api, name)
    account = await api.services.accounts.by_username(name)
    assert account is not None
    await api.services.accounts.save(type(account)(**{**account.__dict__, "disabled": True}))
    assert (await api.client.get("/v1/me", headers=_bearer(tokens))).status_code == 401


async def test_an_idle_session_ends(harness: Harness) -> None:
    settings = api_settings(harness.settings, harness.log_dir, session_idle_s=1)
    async with running_api(settings) as api:
        name, _ = await create_account(api.services, "op", {"operator"}, {"p-1"}, desks={"d"})
        tokens = await _sign_in(api, name)
        assert (await api.client.get("/v1/me", headers=_bearer(tokens))).status_code == 200
        await asyncio.sleep(2.2)
        assert (await api.client.get("/v1/me", headers=_bearer(tokens))).status_code == 401


async def test_an_address_that_tries_too_often_is_throttled(harness: Harness) -> None:
    settings = api_settings(harness.settings, harness.log_dir, sign_in_per_address_per_minute=3)
    async with running_api(settings) as api:
        await _forget_attempts(api)
        answers = [
            (await api.client.post(
                "/v1/auth/sign-in", json={"username": "someone", "password": "x" * 12}
            )).status_code
            for _ in range(4)
        ]  # fmt: skip
        await _forget_attempts(api)
    assert answers[:3] == [401, 401, 401] and answers[3] == 429


async def test_a_used_code_does_not_come_back_spelled_differently(api: RunningApi) -> None:
    name, secret = await create_account(
        api.services, "admin", {"practice_admin"}, {"p-1"}, totp=True
    )
    assert secret is not None
    code = pyotp.TOTP(secret).at(time.time())
    await _sign_in(api, name, totp=code)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in code)
    for spelling in (code, f"{code[:3]} {code[3:]}", full_width):
        again = await api.client.post(
            "/v1/auth/sign-in", json={"username": name, "password": PASSWORD, "totp": spelling}
        )
        assert again.status_code == 401, spelling


async def test_a_refresh_ends_the_previous_access_token(api: RunningApi) -> None:
    name, _ = await create_account(api.services, "op", {"operator"}, {"p-1"}, desks={"d"})
    first = await _sign_in(api, name)
    second = (
        await api.client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert (await api.client.get("/v1/me", headers=_bearer(first))).status_code == 401
    assert (await api.client.get("/v1/me", headers=_bearer(second))).status_code == 200


async def test_ending_all_sessions_of_an_account(api: RunningApi) -> None:
    name, _ = await create_account(api.services, "op", {"operator"}, {"p-1"}, desks={"d"})
    one, two = await _sign_in(api, name), await _sign_in(api, name)
    account = await api.services.accounts.by_username(name)
    assert account is not None
    assert await api.services.sessions.revoke_all(account.account_id) == 2
    for tokens in (one, two):  # what a password reset or a disable does
        assert (await api.client.get("/v1/me", headers=_bearer(tokens))).status_code == 401


async def test_a_revoked_key_cannot_be_rotated_back_to_life(api: RunningApi) -> None:
    from engine.api.api_keys import EndedKeyError

    now = api.services.clock.now()
    _, record = await api.services.api_keys.issue("pbx", frozenset({"p-1"}), now)
    await api.services.api_keys.revoke(record.key_id, now)
    with pytest.raises(EndedKeyError):
        await api.services.api_keys.rotate(record.key_id, now, timedelta(hours=1))
