"""FCM v1 client against the in-process fake: auth, message shape, error paths, retries.

No wall-clock thresholds: waits are recorded (an injected sleep), concurrency is shown by
what the fake had received when the first answer came back; ``make bench`` times things.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import jwt
import pytest

from engine.push.fcm import FcmClient, FcmResult
from engine.push.fcm_auth import FCM_SCOPE, JWT_BEARER_GRANT, AccessTokenProvider, ServiceAccount
from engine.push.retry import RetryPolicy, parse_retry_after
from engine.standins.fake_fcm import FakeFcm, start_fake_fcm

DATA = {"dispatch_id": "d-1", "ct": "c2VhbGVk"}
POLICY = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=2.0)


@dataclass
class Env:
    fake: FakeFcm
    http: httpx.AsyncClient
    auth: AccessTokenProvider
    client: FcmClient
    sleeps: list[float]


@pytest.fixture()
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    fake = await start_fake_fcm(tmp_path / "sa.json")
    sleeps: list[float] = []

    async def recording_sleep(delay: float) -> None:
        sleeps.append(delay)
        await asyncio.sleep(min(delay, 0.05))

    async with httpx.AsyncClient() as http:
        auth = AccessTokenProvider(fake.account, http)
        client = FcmClient(
            fake.base_url, fake.account.project_id, auth, POLICY,
            timeout_s=30.0, sleep=recording_sleep,
        )  # fmt: skip
        yield Env(fake, http, auth, client, sleeps)
        await client.aclose()
    await fake.stop()


async def test_success_is_data_only_high_priority_with_ttl(env: Env) -> None:
    result = await env.client.send("tok-a", DATA, ttl_s=90, urgency="stat")
    assert result.ok and result.status == 200 and result.attempts == 1
    assert result.message_name == f"projects/{env.fake.account.project_id}/messages/1"
    [msg] = env.fake.received
    assert set(msg) == {"token", "payload", "headers", "received_at", "android"}  # no notification
    assert msg["token"] == "tok-a"
    assert msg["payload"] == {**DATA, "urgency": "stat"}
    assert msg["android"] == {"priority": "HIGH", "ttl": "90s"}
    bearer = msg["headers"]["authorization"].removeprefix("Bearer ")
    assert bearer in env.fake.tokens  # issued by the fake's token endpoint
    assert env.fake.token_grants == 1
    await env.client.send("tok-a", DATA, ttl_s=90, urgency="stat")
    assert env.fake.token_grants == 1  # cached


@pytest.mark.parametrize(
    ("mode", "status", "gone", "invalid", "config"),
    [
        ("UNREGISTERED", 404, True, False, False),
        ("SENDER_ID_MISMATCH", 403, False, False, True),  # another project's token
        ("INVALID_ARGUMENT", 400, False, True, False),
    ],
)
async def test_permanent_errors_are_not_retried(
    env: Env, mode: str, status: int, gone: bool, invalid: bool, config: bool
) -> None:
    env.fake.set_fault("tok-b", mode)
    result = await env.client.send("tok-b", DATA, ttl_s=60, urgency="urgent")
    assert not result.ok
    assert (result.status, result.error_code) == (status, mode)
    assert (result.device_gone, result.invalid_argument) == (gone, invalid)
    assert result.config_error == config
    assert result.attempts == 1 and env.fake.attempts["tok-b"] == 1
    assert env.fake.received == []


async def test_wrong_project_is_not_device_gone(env: Env) -> None:
    client = FcmClient(env.fake.base_url, "other-project", env.auth, POLICY)
    result = await client.send("tok-c", DATA, ttl_s=60, urgency="stat")
    await client.aclose()
    assert (result.ok, result.status, result.error_code) == (False, 404, "NOT_FOUND")
    assert not result.device_gone and result.config_error


async def test_401_refreshes_the_token_once(env: Env) -> None:
    assert (await env.client.send("tok-d", DATA, ttl_s=60, urgency="stat")).ok
    resp = await env.http.post(f"{env.fake.base_url}/_fake/revoke-tokens")
    assert resp.status_code == 200
    result = await env.client.send("tok-d", DATA, ttl_s=60, urgency="stat")
    assert result.ok and result.attempts == 1
    assert env.fake.token_grants == 2
    assert env.auth.refresh_count == 2


async def test_persistent_401_gives_up_after_one_refresh(env: Env) -> None:
    class BogusTokens:
        invalidated = 0

        async def token(self) -> str:
            return "not-issued"

        def invalidate(self, token: str) -> None:
            self.invalidated += 1

    source = BogusTokens()
    client = FcmClient(env.fake.base_url, env.fake.account.project_id, source, POLICY)
    result = await client.send("tok-e", DATA, ttl_s=60, urgency="stat")
    await client.aclose()
    assert (result.ok, result.status, result.error_code) == (False, 401, "UNAUTHENTICATED")
    assert source.invalidated == 2 and result.attempts == 1 and result.config_error


@pytest.mark.parametrize("mode", ["UNAVAILABLE", "INTERNAL"])
async def test_server_errors_retried_then_success(env: Env, mode: str) -> None:
    env.fake.set_fault("tok-f", mode, times=2)
    result = await env.client.send("tok-f", DATA, ttl_s=60, urgency="stat")
    assert result.ok and result.attempts == 3
    assert env.fake.attempts["tok-f"] == 3 and len(env.fake.received) == 1
    assert len(env.sleeps) == 2


async def test_attempts_are_bounded(env: Env) -> None:
    env.fake.set_fault("tok-g", "UNAVAILABLE")
    result = await env.client.send("tok-g", DATA, ttl_s=60, urgency="stat")
    assert (result.ok, result.status, result.error_code) == (False, 503, "UNAVAILABLE")
    assert result.attempts == POLICY.max_attempts == env.fake.attempts["tok-g"]


async def test_quota_exceeded_honours_retry_after(env: Env) -> None:
    env.fake.set_fault("tok-h", "QUOTA_EXCEEDED", times=1, retry_after=1)
    result = await env.client.send("tok-h", DATA, ttl_s=60, urgency="stat")
    assert result.ok and result.attempts == 2
    assert env.sleeps and env.sleeps[0] >= 1.0


async def test_long_retry_after_is_handed_back(env: Env) -> None:
    env.fake.set_fault("tok-i", "QUOTA_EXCEEDED", retry_after=120)
    result = await env.client.send("tok-i", DATA, ttl_s=60, urgency="stat")
    assert (result.ok, result.status, result.error_code) == (False, 429, "QUOTA_EXCEEDED")
    assert result.retry_after == 120 and result.attempts == 1 and env.sleeps == []


async def test_slow_answer_times_out_and_is_retried(env: Env) -> None:
    env.fake.set_fault("tok-j", "slow", times=1, delay_s=4.0)
    client = FcmClient(
        env.fake.base_url, env.fake.account.project_id, env.auth, POLICY,
        timeout_s=2.0, sleep=asyncio.sleep,
    )  # fmt: skip
    result = await client.send("tok-j", DATA, ttl_s=60, urgency="stat")
    await client.aclose()
    assert result.ok and result.attempts == 2
    assert env.fake.attempts["tok-j"] == 2


async def test_connection_reset_is_retried(env: Env) -> None:
    env.fake.set_fault("tok-k", "reset", times=1)
    result = await env.client.send("tok-k", DATA, ttl_s=60, urgency="stat")
    assert result.ok and result.attempts == 2 and len(env.fake.received) == 1


async def test_oversize_is_refused_before_sending(env: Env) -> None:
    result = await env.client.send("tok-l", {"ct": "x" * 4090}, ttl_s=60, urgency="stat")
    assert (result.ok, result.error_code, result.invalid_argument) == (
        False, "MESSAGE_TOO_BIG", True,
    )  # fmt: skip
    assert result.attempts == 0 and env.fake.attempts == {} and env.fake.token_grants == 0


async def test_bad_data_raises(env: Env) -> None:
    with pytest.raises(TypeError):
        await env.client.send("tok-m", {"n": 1}, ttl_s=60, urgency="stat")  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="reserves"):
        await env.client.send("tok-m", {"google.x": "1"}, ttl_s=60, urgency="stat")


async def test_concurrent_sends_overlap(env: Env) -> None:
    """Five slow answers overlap: when the first comes back, all five requests had reached
    the fake (sent one after the other, the first would come back before the second left)."""
    tokens = [f"tok-n{i}" for i in range(5)]
    for token in tokens:
        env.fake.set_fault(token, "slow", times=1, delay_s=2.0)
    seen_at_answer: list[int] = []

    async def send(token: str) -> FcmResult:
        result = await env.client.send(token, DATA, ttl_s=60, urgency="stat")
        seen_at_answer.append(sum(env.fake.attempts.get(t, 0) for t in tokens))
        return result

    results = await asyncio.wait_for(asyncio.gather(*(send(t) for t in tokens)), 60)
    assert all(r.ok and r.attempts == 1 for r in results)
    assert seen_at_answer[0] == 5


async def test_fake_rejects_bad_messages_and_assertions(env: Env) -> None:
    token = await env.auth.token()
    url = f"{env.fake.base_url}/v1/projects/{env.fake.account.project_id}/messages:send"
    good = {"token": "t", "data": {"a": "b"}, "android": {"priority": "HIGH", "ttl": "5s"}}
    bad_bodies = [
        {**good, "notification": {"title": "PHI!"}},
        {**good, "data": {"a": 1}},
        {**good, "android": {"priority": "HIGH", "ttl": "5"}},
        {**good, "data": {"a": "x" * 4096}},
    ]
    for body in bad_bodies:
        resp = await env.http.post(
            url, json={"message": body}, headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status_code == 400, body
    resp = await env.http.post(url, json={"message": good}, headers={"Authorization": "Bearer x"})
    assert resp.status_code == 401
    other = ServiceAccount.generate(env.fake.account.token_uri)
    now = int(time.time())
    claims = {"iss": env.fake.account.client_email, "aud": env.fake.account.token_uri,
              "scope": FCM_SCOPE, "iat": now, "exp": now + 600}  # fmt: skip
    forged = jwt.encode(claims, other.private_key, algorithm="RS256")
    resp = await env.http.post(
        env.fake.account.token_uri, data={"grant_type": JWT_BEARER_GRANT, "assertion": forged}
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


async def test_http_control_endpoints(env: Env) -> None:
    base = env.fake.base_url
    resp = await env.http.post(f"{base}/_fake/faults", json={"token": "tok-o", "mode": "nope"})
    assert resp.status_code == 400
    await env.http.post(f"{base}/_fake/faults", json={"token": "tok-o", "mode": "UNREGISTERED"})
    assert (await env.client.send("tok-o", DATA, ttl_s=60, urgency="stat")).device_gone
    await env.http.post(f"{base}/_fake/reset")
    assert (await env.client.send("tok-o", DATA, ttl_s=60, urgency="stat")).ok
    received = (await env.http.get(f"{base}/_fake/received")).json()
    assert [m["token"] for m in received["received"]] == ["tok-o"]
    assert received["attempts"] == {"tok-o": 1} and "token_grants" in received


async def test_received_messages_carry_their_time_and_page_by_since(env: Env) -> None:
    base = env.fake.base_url
    stamps = []
    for token in ("tok-a", "tok-b", "tok-c"):
        before = time.time()
        assert (await env.client.send(token, DATA, ttl_s=60, urgency="stat")).ok
        stamps.append((before, time.time()))
    everything = (await env.http.get(f"{base}/_fake/received")).json()
    assert everything["next"] == 3
    for message, (before, after) in zip(everything["received"], stamps, strict=True):
        assert before <= message["received_at"] <= after
    later = (await env.http.get(f"{base}/_fake/received", params={"since": 2})).json()
    assert [m["token"] for m in later["received"]] == ["tok-c"] and later["next"] == 3
    bad = await env.http.get(f"{base}/_fake/received", params={"since": "-1"})
    assert bad.status_code == 400 and "since" in bad.json()["error"]


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
    before = time.time()
    seconds = parse_retry_after(format_datetime(later, usegmt=True))
    after = time.time()
    assert (
        seconds is not None and later.timestamp() - after <= seconds <= later.timestamp() - before
    )


async def test_runs_as_a_subprocess(tmp_path: Path) -> None:
    sa_file = tmp_path / "sa.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine.standins.fake_fcm", "--port", "0",
        "--service-account-file", str(sa_file), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        base_url = line.split("listening on ")[1].split()[0]
        account = ServiceAccount.from_file(sa_file)
        async with httpx.AsyncClient() as http:
            auth = AccessTokenProvider(account, http)
            client = FcmClient(base_url, account.project_id, auth, POLICY)
            assert (await client.send("tok-p", DATA, ttl_s=60, urgency="stat")).ok
            await client.aclose()
            received = (await http.get(f"{base_url}/_fake/received")).json()["received"]
        assert received[0]["token"] == "tok-p"
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_a_network_failure_names_its_kind_and_nothing_of_the_request(env: Env) -> None:
    env.fake.set_fault("tok-q", "reset", times=10)
    result = await env.client.send("tok-q", DATA, ttl_s=60, urgency="stat")
    assert (result.ok, result.error_code, result.attempts) == (False, "NETWORK", 4)
    assert result.detail.isidentifier()  # an exception class name, e.g. ServerDisconnectedError
    assert "Bearer" not in result.detail and "tok-q" not in result.detail
