"""ProviderPushGateway end to end against the fake APNs and FCM, with the real Redis
device registry and message vault, and virtual phones that decrypt what arrives.

Timeouts here are generous, never asserted: a test that shows the gateway's deadline
ended a push makes every other ending impossible; ``make bench`` times the deadline.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from redis.asyncio import Redis

from engine.adapters.dead_letters import DeadLetterWriter
from engine.adapters.push_setup import build_push
from engine.adapters.redis_directory import RedisDeviceDirectory
from engine.adapters.redis_keys import Keys
from engine.fakes import MemoryPublisher
from engine.metrics import Metrics
from engine.ports import PushRequest
from engine.push.apns import ApnsClient
from engine.push.apns_token import ApnsTokenProvider
from engine.push.breaker import CircuitBreaker
from engine.push.envelope import parse_push
from engine.push.fcm import FcmClient
from engine.push.fcm_auth import AccessTokenProvider
from engine.push.gateway import ProviderPushGateway
from engine.push.message_vault import MessageVault
from engine.push.misconfiguration import DeactivationGuard
from engine.push.payload import PushContent, alert_text_for
from engine.push.retry import RetryPolicy
from engine.schemas.intake import Urgency
from engine.settings import Settings, load_settings
from engine.standins.fake_apns import FakeApns
from engine.standins.fake_fcm import FakeFcm, start_fake_fcm
from engine.standins.virtual_device import VirtualDevice

KEY = ec.generate_private_key(ec.SECP256R1())
TOPIC, KID, TEAM = "org.nightline.clinician", "KID0000001", "TEAM000001"
FAST = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=1.0)
LONG = 3600.0  # a delay or timeout that never runs out within a test
HANG_GUARD = 60.0
PATIENT, CALLBACK = "Test Patient Gamma", "+15555550177"


@dataclass
class World:
    gateway: ProviderPushGateway
    apns: FakeApns
    fcm: FakeFcm
    registry: RedisDeviceDirectory
    vault: MessageVault
    rejected: list[tuple[str, bytes, str]]
    outcomes: list[tuple[str, str]]
    tokens: ApnsTokenProvider
    config_errors: list[tuple[str, str]]
    withheld: list[str]

    async def phone(self, clinician: str, platform: str, **kw: object) -> VirtualDevice:
        phone = VirtualDevice(clinician, f"{platform}-{uuid.uuid4().hex[:6]}", platform, **kw)  # type: ignore[arg-type]
        await self.registry.register(phone.device)
        return phone

    async def page(
        self,
        phone: VirtualDevice,
        urgency: str = "urgent",
        gateway: ProviderPushGateway | None = None,
    ) -> tuple[str, bool]:
        dispatch_id = f"d-{uuid.uuid4()}"
        await self.vault.put(
            PushContent(
                dispatch_id=dispatch_id,
                urgency=Urgency(urgency),
                patient_name=PATIENT,
                callback_number=CALLBACK,
                message="Synthetic: wheezing after inhaler",
                practice_name="Demo Pediatrics",
            )
        )
        device = await self.registry.get(phone.clinician_id, phone.device_id)
        assert device is not None
        request = PushRequest(dispatch_id, device, urgency, 0, 1, alert_text_for(urgency))
        return dispatch_id, (await (gateway or self.gateway).send(request)).ok


@pytest.fixture()
async def world(stack_settings: Settings, tmp_path: Path) -> AsyncIterator[World]:
    redis = Redis.from_url(stack_settings.redis_dsn)
    prefix = f"nltest-gw-{uuid.uuid4().hex[:8]}"
    keys = Keys(prefix)
    apns_fake = await FakeApns(KEY, KID, TEAM, tmp_path / "certs", topic=TOPIC).start()
    fcm_fake = await start_fake_fcm(tmp_path / "sa.json")
    tokens = ApnsTokenProvider(KEY, KID, TEAM, redis, key_prefix=f"{prefix}:apns")
    apns = ApnsClient(
        apns_fake.url, TOPIC, tokens, verify=str(apns_fake.ca_file), timeout_s=30.0, retry=FAST
    )
    http = httpx.AsyncClient(timeout=30.0)
    account = fcm_fake.account
    fcm = FcmClient(fcm_fake.base_url, account.project_id, AccessTokenProvider(account, http), FAST)
    registry = RedisDeviceDirectory(redis, keys)
    vault = MessageVault(redis, prefix, MessageVault.generate_key(), ttl_s=600)
    rejected: list[tuple[str, bytes, str]] = []
    outcomes: list[tuple[str, str]] = []
    config_errors: list[tuple[str, str]] = []
    withheld: list[str] = []

    async def reject(provider: str, body: bytes, reason: str) -> None:
        rejected.append((provider, body, reason))

    gateway = ProviderPushGateway(
        vault,
        registry,
        apns,
        fcm,
        on_rejected=reject,
        observe=lambda p, o: outcomes.append((p, o)),
        observe_config_error=lambda p, reason: config_errors.append((p, reason)),
        observe_withheld=lambda p, _: withheld.append(p),
        deadline_s=60.0,
        breakers={"apns": CircuitBreaker(3, 60), "fcm": CircuitBreaker(3, 60)},
        guard=DeactivationGuard(burst=3, fraction=0.5, window_s=60, pause_s=600),
    )
    yield World(
        gateway,
        apns_fake,
        fcm_fake,
        registry,
        vault,
        rejected,
        outcomes,
        tokens,
        config_errors,
        withheld,
    )
    await apns.aclose()
    await fcm.aclose()
    await http.aclose()
    await apns_fake.stop()
    await fcm_fake.stop()
    await redis.aclose()


async def test_ios_push_is_an_encrypted_alert_the_phone_can_open(world: World) -> None:
    phone = await world.phone("dr-ash", "ios", critical_alerts=True)
    dispatch_id, ok = await world.page(phone, "emergency")
    assert ok
    [got] = world.apns.received
    assert got["token"] == phone.push_token
    headers, payload = got["headers"], got["payload"]
    assert headers["apns-priority"] == "10" and headers["apns-push-type"] == "alert"
    assert headers["apns-collapse-id"] == dispatch_id[:64]
    assert payload["aps"]["mutable-content"] == 1
    assert payload["aps"]["interruption-level"] == "critical"
    assert PATIENT not in str(got) and CALLBACK not in str(got)
    push = parse_push("ios", payload)
    assert push.dispatch_id == dispatch_id and push.ciphertext_b64
    opened = phone.open(push.ciphertext_b64)
    assert opened["patient_name"] == PATIENT and opened["callback_number"] == CALLBACK


async def test_android_push_is_a_data_message_the_phone_can_open(world: World) -> None:
    phone = await world.phone("dr-ash", "android")
    dispatch_id, ok = await world.page(phone)
    assert ok
    [got] = world.fcm.received
    assert got["token"] == phone.push_token
    assert got["android"]["priority"] == "HIGH" and "notification" not in got["android"]
    assert PATIENT not in str(got) and CALLBACK not in str(got)
    push = parse_push("android", got["payload"])
    assert push.dispatch_id == dispatch_id and push.ciphertext_b64
    assert phone.open(push.ciphertext_b64)["message"] == "Synthetic: wheezing after inhaler"


@pytest.mark.parametrize("status,reason", [(410, "Unregistered"), (400, "BadDeviceToken")])
async def test_apns_dead_token_deactivates_the_device(
    world: World, status: int, reason: str
) -> None:
    phone = await world.phone("dr-ash", "ios")
    world.apns.faults[phone.push_token] = {"status": status, "reason": reason}
    _, ok = await world.page(phone)
    assert not ok
    assert await world.registry.devices_for(["dr-ash"]) == {"dr-ash": []}
    assert reason in (await world.registry.deactivation_reason("dr-ash", phone.device_id) or "")
    assert ("apns", "device_gone") in world.outcomes


async def test_fcm_unregistered_deactivates_the_device(world: World) -> None:
    phone = await world.phone("dr-ash", "android")
    world.fcm.set_fault(phone.push_token, "UNREGISTERED")
    _, ok = await world.page(phone)
    assert not ok
    assert await world.registry.devices_for(["dr-ash"]) == {"dr-ash": []}


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "DeviceTokenNotForTopic"),
        (400, "BadTopic"),
        (403, "BadEnvironmentKeyInToken"),
        (403, "InvalidProviderToken"),
    ],
)
async def test_an_apns_configuration_error_fails_the_page_loudly_and_deactivates_nothing(
    world: World, caplog: pytest.LogCaptureFixture, status: int, reason: str
) -> None:
    phones = [await world.phone(f"dr-{n}", "ios") for n in range(3)]
    for phone in phones:
        world.apns.faults[phone.push_token] = {"status": status, "reason": reason}
    assert [(await world.page(phone))[1] for phone in phones] == [False] * 3
    for phone in phones:
        [device] = (await world.registry.devices_for([phone.clinician_id]))[phone.clinician_id]
        assert device.active
    assert world.config_errors == [("apns", reason)] * 3
    assert [o for _, o in world.outcomes] == ["config_error"] * 3
    loud = [r for r in caplog.records if r.levelname == "ERROR" and reason in r.getMessage()]
    assert len(loud) == 1  # once a minute per provider and reason, not once a push
    assert "a configuration error" in loud[0].getMessage()


async def test_fixing_a_wrong_topic_brings_the_phones_back(world: World) -> None:
    wrong = ApnsClient(world.apns.url, "org.nightline.wrong", world.tokens,
                       verify=str(world.apns.ca_file), timeout_s=0.5, retry=FAST)  # fmt: skip
    misconfigured = ProviderPushGateway(
        world.vault,
        world.registry,
        wrong,
        None,
        observe_config_error=lambda p, reason: world.config_errors.append((p, reason)),
    )
    phone = await world.phone("dr-ash", "ios")
    try:
        assert not (await world.page(phone, gateway=misconfigured))[1]
    finally:
        await wrong.aclose()
    assert world.config_errors == [("apns", "TopicDisallowed")]  # the fake checks the topic
    assert (await world.page(phone))[1]  # the right topic: the same phone gets the page


async def test_fcm_sender_id_mismatch_is_a_configuration_error(world: World) -> None:
    phone = await world.phone("dr-ash", "android")
    world.fcm.set_fault(phone.push_token, "SENDER_ID_MISMATCH")
    _, ok = await world.page(phone)
    assert not ok
    [device] = (await world.registry.devices_for(["dr-ash"]))["dr-ash"]
    assert device.active
    assert world.config_errors == [("fcm", "SENDER_ID_MISMATCH")]


async def test_a_burst_of_dead_tokens_stops_deactivation(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # a sandbox token sent to production is a BadDeviceToken: every phone looks dead
    phones = [await world.phone(f"dr-{n}", "ios") for n in range(6)]
    for phone in phones:
        world.apns.faults[phone.push_token] = {"status": 400, "reason": "BadDeviceToken"}
    assert [(await world.page(phone))[1] for phone in phones] == [False] * 6
    active = await world.registry.devices_for([p.clinician_id for p in phones])
    assert [bool(active[p.clinician_id]) for p in phones] == [False] * 3 + [True] * 3
    assert world.withheld == ["apns"] * 3
    late = await world.phone("dr-late", "ios")  # even a genuine 410 waits out the pause
    world.apns.faults[late.push_token] = {"status": 410, "reason": "Unregistered"}
    assert not (await world.page(late))[1]
    assert (await world.registry.devices_for(["dr-late"]))["dr-late"] != []
    burst = [r.getMessage() for r in caplog.records if "within 60 s" in r.getMessage()]
    assert burst == [
        "apns answered 'device gone' to 4 of 4 pushes within 60 s: a configuration error (a "
        "sandbox token sent to production, or the reverse?), not phones uninstalled at once; "
        "deactivating no devices of apns until it stops"
    ]
    android = await world.phone("dr-droid", "android")  # the other provider is unaffected
    world.fcm.set_fault(android.push_token, "UNREGISTERED")
    assert not (await world.page(android))[1]
    assert (await world.registry.devices_for(["dr-droid"]))["dr-droid"] == []


async def test_fcm_invalid_argument_goes_to_the_dead_letters(world: World) -> None:
    phone = await world.phone("dr-ash", "android")
    world.fcm.set_fault(phone.push_token, "INVALID_ARGUMENT")
    _, ok = await world.page(phone)
    assert not ok
    [(provider, body, reason)] = world.rejected
    assert provider == "fcm" and "INVALID_ARGUMENT" in reason
    assert PATIENT.encode() not in body
    assert ("fcm", "rejected") in world.outcomes
    [device] = (await world.registry.devices_for(["dr-ash"]))["dr-ash"]
    assert device.active  # a bad message is not a dead device


async def test_transient_errors_are_retried_then_delivered(world: World) -> None:
    ios = await world.phone("dr-ash", "ios")
    android = await world.phone("dr-ash", "android")
    world.apns.faults[ios.push_token] = {"status": 429, "reason": "TooManyRequests",
                                         "retry_after": 0, "times": 1}  # fmt: skip
    world.fcm.set_fault(android.push_token, "UNAVAILABLE", times=2)
    assert (await world.page(ios))[1] and (await world.page(android))[1]
    assert len(world.apns.received) == 1 and len(world.fcm.received) == 1


async def test_a_slow_provider_fails_the_push_at_the_gateway_deadline(world: World) -> None:
    # the gateway's deadline, not the client's timeout, must end the push: the provider
    # never answers and each attempt may wait an hour; the gateway allows 0.3 s in all
    apns = ApnsClient(world.apns.url, TOPIC, world.tokens, verify=str(world.apns.ca_file),
                      timeout_s=LONG, retry=FAST)  # fmt: skip
    outcomes: list[tuple[str, str]] = []
    gateway = ProviderPushGateway(
        world.vault,
        world.registry,
        apns,
        None,
        observe=lambda p, o: outcomes.append((p, o)),
        deadline_s=0.3,
    )
    phone = await world.phone("dr-ash", "ios")
    world.apns.faults[phone.push_token] = {"slow": LONG}
    try:
        _, ok = await asyncio.wait_for(world.page(phone, gateway=gateway), HANG_GUARD)
    finally:
        await apns.aclose()
    assert not ok
    assert outcomes == [("apns", "deadline")]


async def test_an_outage_opens_the_breaker_and_later_pushes_fail_fast(world: World) -> None:
    phones = [await world.phone(f"dr-{i}", "android") for i in range(4)]
    for phone in phones:
        world.fcm.set_fault(phone.push_token, "INTERNAL")
    results = [(await world.page(phone))[1] for phone in phones]
    assert results == [False] * 4
    assert [o for _, o in world.outcomes] == ["retryable"] * 3 + ["circuit_open"]
    attempts_before = sum(world.fcm.attempts.values())
    assert not (await world.page(phones[0]))[1]
    assert sum(world.fcm.attempts.values()) == attempts_before  # nothing went out
    ios = await world.phone("dr-ash", "ios")  # the other provider is unaffected
    assert (await world.page(ios))[1]


async def test_a_missing_vault_record_sends_the_dispatch_id_only(world: World) -> None:
    phone = await world.phone("dr-ash", "ios")
    device = await world.registry.get("dr-ash", phone.device_id)
    assert device is not None
    result = await world.gateway.send(
        PushRequest("d-gone", device, "urgent", 0, 1, alert_text_for("urgent"))
    )
    assert result.ok
    push = parse_push("ios", world.apns.received[-1]["payload"])
    assert push.dispatch_id == "d-gone" and push.fetch and push.ciphertext_b64 is None


async def test_the_gateway_built_from_default_settings_opens_after_five_failures(
    stack_settings: Settings, tmp_path: Path
) -> None:
    """The breaker defaults that matter, as deployed: five provider failures in a row open
    it (not four, not fifty), then pushes fail at once without reaching the provider."""
    fcm_fake = await start_fake_fcm(tmp_path / "sa.json")
    settings = load_settings(
        state_dir=tmp_path,
        redis_url=stack_settings.redis_dsn,
        topic_prefix=f"nltest-gwdef-{uuid.uuid4().hex[:8]}",
        push_gateway="providers",
        fcm_url=fcm_fake.base_url,
        fcm_service_account_file=tmp_path / "sa.json",
        vault_key=MessageVault.generate_key(),
    )
    redis = Redis.from_url(settings.redis_dsn)
    keys, metrics = Keys(settings.topic_prefix), Metrics()
    letters = DeadLetterWriter(MemoryPublisher(), MessageVault.generate_key().encode())
    gateway, vault = build_push(settings, redis, keys, metrics, letters)
    assert vault is not None
    phone = VirtualDevice("dr-ash", "pixel-1", "android")
    await RedisDeviceDirectory(redis, keys).register(phone.device)
    # a 429 asking for ten minutes: one attempt per push, and a provider failure
    fcm_fake.set_fault(phone.push_token, "QUOTA_EXCEEDED", retry_after=600)

    def outcomes(outcome: str) -> float | None:
        labels = {"provider": "fcm", "outcome": outcome}
        return metrics.registry.get_sample_value("nightline_push_provider_outcomes_total", labels)

    try:
        request = PushRequest("d-breaker", phone.device, "urgent", 0, 1, alert_text_for("urgent"))
        for _ in range(4):
            assert not (await gateway.send(request)).ok
        assert (outcomes("retryable"), outcomes("circuit_open")) == (4.0, None)
        assert not (await gateway.send(request)).ok  # the fifth failure opens the breaker
        result = await gateway.send(request)
        assert not result.ok and result.detail == "fcm circuit open"
        assert (outcomes("retryable"), outcomes("circuit_open")) == (5.0, 1.0)
        assert fcm_fake.attempts[phone.push_token] == 5  # the sixth never left
    finally:
        stale = [k async for k in redis.scan_iter(match=f"{settings.topic_prefix}:*")]
        if stale:
            await redis.delete(*stale)
        await redis.aclose()
        await fcm_fake.stop()
