"""ApnsClient against the fake APNs (HTTP/2 over TLS, started in-process on a free port).

No wall-clock thresholds: waits are recorded (an injected sleep), concurrency is shown by
what interleaves, and how fast things are is ``make bench``'s business.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from engine.fakes import MemoryTokenStore
from engine.push import apns as apns_module
from engine.push.apns import ApnsClient, PayloadTooLarge
from engine.push.apns_token import ApnsTokenProvider, load_p8_key
from engine.push.retry import RetryPolicy, with_retries
from engine.standins.fake_apns import FakeApns, spawn_fake_apns

KEY = ec.generate_private_key(ec.SECP256R1())
TOPIC, KID, TEAM = "com.nightline.app", "KID0000001", "TEAM000001"
DEV = "a1" * 32
LONG = 3600.0  # a delay or timeout that never runs out within a test


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fake-apns-certs")


@pytest.fixture()
async def fake(cert_dir: Path) -> AsyncIterator[FakeApns]:
    async with FakeApns(KEY, KID, TEAM, cert_dir, topic=TOPIC) as server:
        yield server


@pytest.fixture()
def tokens() -> ApnsTokenProvider:
    return ApnsTokenProvider(KEY, KID, TEAM, MemoryTokenStore())


@pytest.fixture()
async def client(fake: FakeApns, tokens: ApnsTokenProvider) -> AsyncIterator[ApnsClient]:
    retry = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=2.0)
    async with ApnsClient(
        fake.url, TOPIC, tokens, verify=str(fake.ca_file), timeout_s=30.0, retry=retry
    ) as c:
        yield c


async def control(fake: FakeApns | str, method: str, path: str, body: Any = None) -> Any:
    """Call a /_fake/ endpoint of ``fake`` (or of a fake at ``"URL CA_PATH"``)."""
    url, ca = fake.split() if isinstance(fake, str) else (fake.url, str(fake.ca_file))
    async with httpx.AsyncClient(http2=True, verify=ssl.create_default_context(cafile=ca)) as h:
        return (await h.request(method, url + path, json=body)).json()


async def send(client: ApnsClient, urgency: str = "urgent", critical: bool = False) -> Any:
    return await client.send(
        DEV, {"d": "disp-1"}, urgency=urgency, collapse_id="disp-1", expiration_s=60,
        critical=critical,
    )  # fmt: skip


async def test_success_headers_jwt_and_payload(fake: FakeApns, client: ApnsClient) -> None:
    before = int(time.time())
    result = await send(client)
    after = int(time.time())
    assert result.ok and result.status == 200 and result.apns_id and result.attempts == 1
    [push] = (await control(fake, "GET", "/_fake/received"))["received"]
    h = push["headers"]
    assert h[":path"] == f"/3/device/{DEV}"
    assert (h["apns-push-type"], h["apns-priority"], h["apns-topic"]) == ("alert", "10", TOPIC)
    assert h["apns-collapse-id"] == "disp-1"
    expiration = int(h["apns-expiration"])  # now + 60 s, rounded up to a multiple of 10 s
    assert expiration % 10 == 0 and before + 60 <= expiration < after + 60 + 10
    token = h["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(token)["kid"] == KID
    assert jwt.decode(token, KEY.public_key(), algorithms=["ES256"])["iss"] == TEAM
    aps = push["payload"]["aps"]
    assert aps["mutable-content"] == 1 and aps["interruption-level"] == "time-sensitive"
    assert push["payload"]["d"] == "disp-1" and "Urgent" in aps["alert"]["body"]


async def test_routine_is_priority_5(fake: FakeApns, client: ApnsClient) -> None:
    assert (await send(client, urgency="routine")).ok
    [push] = fake.received
    assert push["headers"]["apns-priority"] == "5"
    assert push["payload"]["aps"]["interruption-level"] == "active"


async def test_critical_only_for_emergency_when_allowed(fake: FakeApns, client: ApnsClient) -> None:
    await send(client, "emergency", critical=True)
    await send(client, "emergency", critical=False)
    await send(client, "urgent", critical=True)
    levels = [p["payload"]["aps"]["interruption-level"] for p in fake.received]
    assert levels == ["critical", "time-sensitive", "time-sensitive"]
    assert fake.received[0]["payload"]["aps"]["sound"]["critical"] == 1
    assert fake.received[1]["payload"]["aps"]["sound"] == "default"


@pytest.mark.parametrize(("status", "reason"), [(410, "Unregistered"), (400, "BadDeviceToken")])
async def test_device_gone_without_retry(
    fake: FakeApns, client: ApnsClient, status: int, reason: str
) -> None:
    await control(fake, "POST", "/_fake/faults", {DEV: {"status": status, "reason": reason}})
    result = await send(client)
    assert not result.ok and result.device_gone and result.reason == reason
    assert result.attempts == 1 and result.to_push_result().device_gone


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "DeviceTokenNotForTopic"),
        (400, "BadTopic"),
        (403, "BadEnvironmentKeyInToken"),
        (403, "InvalidProviderToken"),
    ],
)
async def test_configuration_errors_are_not_dead_devices(
    fake: FakeApns, client: ApnsClient, status: int, reason: str
) -> None:
    await control(fake, "POST", "/_fake/faults", {DEV: {"status": status, "reason": reason}})
    result = await send(client)
    assert not result.ok and result.config_error and not result.device_gone
    assert result.attempts == 1 and not result.to_push_result().device_gone


async def test_a_wrong_topic_is_a_configuration_error(
    fake: FakeApns, tokens: ApnsTokenProvider
) -> None:
    async with ApnsClient(fake.url, "com.nightline.other", tokens, verify=str(fake.ca_file)) as c:
        result = await send(c)
    assert (result.status, result.reason) == (400, "TopicDisallowed")  # the fake's own check
    assert result.config_error and not result.device_gone and fake.received == []


async def test_429_retry_after_honoured(
    fake: FakeApns, client: ApnsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def recording_sleep(delay: float) -> None:
        waits.append(delay)

    recorded = functools.partial(with_retries, sleep=recording_sleep)
    monkeypatch.setattr(apns_module, "with_retries", recorded)
    fault = {"status": 429, "reason": "TooManyRequests", "retry_after": 0.6, "times": 1}
    await control(fake, "POST", "/_fake/faults", {DEV: fault})
    result = await send(client)
    assert result.ok and result.attempts == 2
    assert len(waits) == 1 and waits[0] >= 0.6  # the backoff alone would be 0.01 s at most


async def test_retry_after_beyond_policy_returns_instead_of_parking(
    fake: FakeApns, client: ApnsClient
) -> None:
    await control(fake, "POST", "/_fake/faults", {DEV: {"status": 429, "retry_after": 600}})
    result = await send(client)
    assert not result.ok and result.status == 429 and result.retry_after == 600
    assert result.attempts == 1


async def test_500_retried_then_success(fake: FakeApns, client: ApnsClient) -> None:
    await control(fake, "POST", "/_fake/faults", {DEV: {"status": 500, "times": 2}})
    result = await send(client)
    assert result.ok and result.attempts == 3


async def test_500_forever_gives_up_after_bounded_attempts(
    fake: FakeApns, client: ApnsClient
) -> None:
    await control(fake, "POST", "/_fake/faults", {DEV: {"status": 503}})
    result = await send(client)
    assert not result.ok and result.status == 503 and result.attempts == 4
    assert fake.received == []


async def test_slow_response_times_out_and_is_retried(
    fake: FakeApns, tokens: ApnsTokenProvider
) -> None:
    retry = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=2.0)
    await control(fake, "POST", "/_fake/faults", {DEV: {"slow": LONG, "times": 1}})
    async with ApnsClient(
        fake.url, TOPIC, tokens, verify=str(fake.ca_file), timeout_s=2.0, retry=retry
    ) as client:  # the first try is never answered: only its 2 s timeout ends it
        result = await send(client)
    assert result.ok and result.attempts == 2
    # the slow try was accepted too (its answer was lost): the collapse id dedupes on the phone
    assert [p["headers"]["apns-collapse-id"] for p in fake.received] == ["disp-1"] * 2


async def test_connection_reset_is_retried(fake: FakeApns, client: ApnsClient) -> None:
    await control(fake, "POST", "/_fake/faults", {DEV: {"reset": True, "times": 1}})
    result = await send(client)
    assert result.ok and result.attempts == 2 and len(fake.received) == 1


async def test_expired_provider_token_refreshed_once(
    fake: FakeApns, client: ApnsClient, tokens: ApnsTokenProvider
) -> None:
    first = await tokens.token()
    fault = {"status": 403, "reason": "ExpiredProviderToken", "times": 1}
    await control(fake, "POST", "/_fake/faults", {DEV: fault})
    result = await send(client)
    assert result.ok and result.attempts == 1 and tokens.minted == 2
    used = fake.received[0]["headers"]["authorization"].removeprefix("bearer ")
    assert used != first and used == await tokens.token()


async def test_token_with_old_iat_is_refreshed_only_once(fake: FakeApns) -> None:
    tokens = ApnsTokenProvider(KEY, KID, TEAM, MemoryTokenStore(), clock=lambda: time.time() - 7200)
    async with ApnsClient(fake.url, TOPIC, tokens, verify=str(fake.ca_file)) as client:
        result = await send(client)
    assert not result.ok and (result.status, result.reason) == (403, "ExpiredProviderToken")
    assert tokens.minted == 2


async def test_fake_rejects_foreign_key_and_missing_topic(fake: FakeApns) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    bad = jwt.encode({"iss": TEAM, "iat": int(time.time())}, other, "ES256", {"kid": KID})
    verify = ssl.create_default_context(cafile=str(fake.ca_file))
    async with httpx.AsyncClient(http2=True, verify=verify) as http:
        url, body = f"{fake.url}/3/device/{DEV}", json.dumps({"aps": {}})
        base = {"apns-push-type": "alert", "apns-priority": "10", "authorization": f"bearer {bad}"}
        r = await http.post(url, content=body, headers={**base, "apns-topic": TOPIC})
        assert (r.status_code, r.json()["reason"]) == (403, "InvalidProviderToken")
        good = await ApnsTokenProvider(KEY, KID, TEAM, MemoryTokenStore()).token()
        r = await http.post(url, content=body, headers={**base, "authorization": f"bearer {good}"})
        assert (r.status_code, r.json()["reason"]) == (400, "MissingTopic")


async def test_every_answer_carries_an_apns_id_as_on_apns(fake: FakeApns) -> None:
    verify = ssl.create_default_context(cafile=str(fake.ca_file))
    good = await ApnsTokenProvider(KEY, KID, TEAM, MemoryTokenStore()).token()
    headers = {"apns-push-type": "alert", "apns-priority": "10", "apns-topic": TOPIC,
               "authorization": f"bearer {good}"}  # fmt: skip
    mine = "9f1c8e52-3d0b-4c1e-8a55-6b2f0e1d7c3a"
    async with httpx.AsyncClient(http2=True, verify=verify) as http:
        url = f"{fake.url}/3/device/{DEV}"
        ok = await http.post(url, content=b'{"aps": {}}', headers={**headers, "apns-id": mine})
        bad = await http.post(url, content=b"{oops", headers={**headers, "apns-id": mine})
        made = await http.post(url, content=b"{oops", headers=headers)
        path = await http.post(f"{fake.url}/3/device/not-hex", content=b"{}", headers=headers)
        await control(
            fake, "POST", "/_fake/faults", {DEV: {"status": 410, "reason": "Unregistered"}}
        )
        gone = await http.post(url, content=b'{"aps": {}}', headers={**headers, "apns-id": mine})
    assert ok.status_code == 200 and ok.headers["apns-id"] == mine  # echoed
    assert (bad.status_code, bad.json()["reason"]) == (400, "BadPayload")
    assert bad.headers["apns-id"] == mine
    assert gone.status_code == 410 and gone.headers["apns-id"] == mine
    for answer in (made, path):  # none given: APNs makes one
        assert answer.status_code == 400
        assert str(uuid.UUID(answer.headers["apns-id"])).upper() == answer.headers["apns-id"]
    received = await control(fake, "GET", "/_fake/received")
    assert [r["token"] for r in received["received"]] == [DEV]
    assert received["attempts"] == {DEV: 4}  # the bad path names no device


async def test_received_pushes_carry_their_time_and_page_by_since(
    fake: FakeApns, client: ApnsClient
) -> None:
    stamps = []
    for n in range(3):
        before = time.time()
        assert (await client.send(DEV, {"d": f"disp-{n}"}, urgency="urgent",
                                  collapse_id=f"disp-{n}", expiration_s=60)).ok  # fmt: skip
        stamps.append((before, time.time()))
    everything = await control(fake, "GET", "/_fake/received")
    assert everything["next"] == 3
    for push, (before, after) in zip(everything["received"], stamps, strict=True):
        assert before <= push["received_at"] <= after
    later = await control(fake, "GET", "/_fake/received?since=1")
    assert [p["payload"]["d"] for p in later["received"]] == ["disp-1", "disp-2"]
    assert later["next"] == 3 and later["attempts"] == {DEV: 3}
    assert (await control(fake, "GET", "/_fake/received?since=3"))["received"] == []
    for bad in ("-1", "x", "1&since=2"):
        assert "since" in (await control(fake, "GET", f"/_fake/received?since={bad}"))["reason"]


async def test_payload_over_4096_bytes_refused_before_sending(
    fake: FakeApns, client: ApnsClient
) -> None:
    with pytest.raises(PayloadTooLarge, match="over 4096"):
        await client.send(
            DEV, {"blob": "x" * 4096}, urgency="urgent", collapse_id="c", expiration_s=0
        )
    assert fake.received == []


async def test_200_concurrent_sends_do_not_block_the_loop(
    fake: FakeApns, client: ApnsClient
) -> None:
    """While 200 sends are in flight, another task keeps getting turns: its ticks land
    between the sends' completions, not only before the first or after the last."""
    timeline: list[str] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            timeline.append("tick")
            await asyncio.sleep(0)

    async def send_and_note() -> Any:
        result = await send(client)
        timeline.append("sent")
        return result

    tick = asyncio.create_task(ticker())
    results = await asyncio.gather(*(send_and_note() for _ in range(200)))
    done.set()
    await tick
    assert all(r.ok for r in results) and len(fake.received) == 200
    first, last = timeline.index("sent"), len(timeline) - 1 - timeline[::-1].index("sent")
    between = timeline[first:last]
    gaps_with_ticks = sum(pair == ("sent", "tick") for pair in itertools.pairwise(between))
    assert gaps_with_ticks >= 50, f"the ticker ran between only {gaps_with_ticks} of 199 sends"


async def test_fake_runs_as_a_subprocess(tmp_path: Path, tokens: ApnsTokenProvider) -> None:
    key_file = tmp_path / "AuthKey.p8"
    proc, url, ca = await spawn_fake_apns(tmp_path / "certs", key_file, KID, TEAM)
    try:
        own = ApnsTokenProvider(load_p8_key(key_file), KID, TEAM, MemoryTokenStore())
        async with ApnsClient(url, TOPIC, own, verify=ca) as client:
            assert (await send(client)).ok
            assert len((await control(f"{url} {ca}", "GET", "/_fake/received"))["received"]) == 1
    finally:
        proc.terminate()
        await proc.wait()
