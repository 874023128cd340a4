"""Pure parts of push wiring: the circuit breaker, the wire format, device changes,
and the message content the intake keeps for the phone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.fakes import MemoryDeviceDirectory, MemoryVault
from engine.handlers.devices import apply_device_change
from engine.handlers.intake import handle_intake
from engine.push.breaker import CircuitBreaker
from engine.push.crypto import b64url_decode, b64url_encode
from engine.push.envelope import android_data, ios_payload, parse_push
from engine.push.payload import DevicePayload, PushContent, build_device_payload
from engine.schemas.devices import DeviceAction, DeviceRegistration
from engine.schemas.intake import Caller, CallerType, CallReason, Patient, Urgency, VoiceCall
from engine.standins.virtual_device import VirtualDevice
from tests.unit.handler_world import NIGHT, World

AT = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)


class Ticks:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _body(platform: str, payload: DevicePayload) -> dict[str, Any]:
    """The push as the gateway builds it (page 1)."""
    if platform == "ios":
        return ios_payload(payload, "urgent", 1)
    return dict(android_data(payload, "urgent", 1))


def test_breaker_opens_after_consecutive_failures_and_half_opens_after_cooldown() -> None:
    clock = Ticks()
    breaker = CircuitBreaker(threshold=3, cooldown_s=30, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    breaker.record_success()  # a success resets the count
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.t = 29.9
    assert not breaker.allow()
    clock.t = 30.0
    assert breaker.allow()  # one trial
    assert not breaker.allow()  # and only one
    breaker.record_failure()
    assert breaker.state == "open"
    clock.t = 60.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_breaker_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold=0)


def _content(message: str = "Synthetic fever 39.4C since noon") -> PushContent:
    return PushContent(
        dispatch_id="d-1",
        urgency=Urgency.URGENT,
        patient_name="Test Patient Alpha",
        callback_number="+15555550100",
        message=message,
        practice_name="Demo Pediatrics",
    )


@pytest.mark.parametrize("platform", ["ios", "android"])
def test_wire_format_round_trip_hides_phi_and_decrypts(platform: str) -> None:
    phone = VirtualDevice("dr-ash", "phone-1", platform)
    payload = build_device_payload(_content(), phone.device)
    body = _body(platform, payload)
    assert "Test Patient Alpha" not in str(body) and "555" not in str(body)
    received = parse_push(platform, body)
    assert (received.dispatch_id, received.urgency, received.fetch) == ("d-1", "urgent", False)
    assert received.alert_text == "Urgent message - open to view"
    assert received.ciphertext_b64 is not None
    opened = phone.open(received.ciphertext_b64)
    assert opened["patient_name"] == "Test Patient Alpha"
    assert opened["callback_number"] == "+15555550100"


@pytest.mark.parametrize("platform", ["ios", "android"])
def test_wire_format_for_a_message_too_large_asks_the_app_to_fetch(platform: str) -> None:
    phone = VirtualDevice("dr-ash", "phone-1", platform)
    payload = build_device_payload(_content("x" * 5000), phone.device)
    body = _body(platform, payload)
    received = parse_push(platform, body)
    assert received.fetch
    assert received.ciphertext_b64 is not None
    assert phone.open(received.ciphertext_b64) == {"dispatch_id": "d-1"}


def test_parse_push_refuses_foreign_payloads() -> None:
    with pytest.raises(ValueError):
        parse_push("ios", {"aps": {}})
    with pytest.raises(ValueError):
        parse_push("android", {"title": "hi"})
    with pytest.raises(ValueError):
        parse_push("web", {})


def _registration(action: DeviceAction, **fields: object) -> DeviceRegistration:
    phone = VirtualDevice("dr-ash", "phone-1", "ios")
    base: dict[str, object] = {
        "clinician_id": "dr-ash",
        "device_id": "phone-1",
        "action": action,
        "at": AT,
    }
    if action is DeviceAction.REGISTER:
        base |= {
            "platform": "ios",
            "push_token": phone.push_token,
            "public_key": phone.keys.public_key_b64,
            "auth_secret": phone.keys.auth_secret_b64,
            "app_version": "2.3.0",
        }
    return DeviceRegistration.model_validate(base | fields)


async def test_device_changes_register_rotate_and_remove() -> None:
    registry = MemoryDeviceDirectory()
    assert await apply_device_change(registry, _registration(DeviceAction.REGISTER)) == "registered"
    [device] = (await registry.devices_for(["dr-ash"]))["dr-ash"]
    assert device.platform == "ios" and device.app_version == "2.3.0"
    assert device.last_seen == AT.isoformat()
    await registry.deactivate("dr-ash", "phone-1", "apns 410 Unregistered")
    assert (await registry.devices_for(["dr-ash"]))["dr-ash"] == []
    rotate = _registration(DeviceAction.ROTATE_TOKEN, push_token="ab" * 32)
    assert await apply_device_change(registry, rotate) == "rotated"
    [device] = (await registry.devices_for(["dr-ash"]))["dr-ash"]
    assert device.push_token == "ab" * 32 and device.active
    assert await apply_device_change(registry, _registration(DeviceAction.REMOVE)) == "removed"
    assert (await registry.devices_for(["dr-ash"]))["dr-ash"] == []
    assert await apply_device_change(registry, rotate) == "unknown_device"


def test_a_registration_without_keys_is_refused_by_the_contract() -> None:
    with pytest.raises(ValueError, match="public_key"):
        DeviceRegistration(
            clinician_id="dr-ash",
            device_id="phone-1",
            action=DeviceAction.REGISTER,
            platform="ios",
            push_token="ab" * 32,
            auth_secret="A" * 22,
            at=AT,
        )
    with pytest.raises(ValueError, match="push_token"):
        DeviceRegistration(
            clinician_id="dr-ash", device_id="p", action=DeviceAction.ROTATE_TOKEN, at=AT
        )


async def test_intake_keeps_the_message_in_the_vault_before_paging() -> None:
    w = World()
    vault = MemoryVault()
    w.svc.vault = vault
    seen_when_paged: list[bool] = []
    real_send = w.push.send

    async def send(request):  # type: ignore[no-untyped-def]
        seen_when_paged.append(request.dispatch_id in vault.contents)
        return await real_send(request)

    w.push.send = send  # type: ignore[method-assign]
    event = VoiceCall(
        event_id=uuid.uuid4(),
        practice_id="p-1",
        source_system="pbx",
        received_at=NIGHT,
        caller=Caller(
            type=CallerType.PARENT_GUARDIAN, name="Test Parent", callback_number="+15555550101"
        ),
        patient=Patient(name="Test Patient Beta"),
        reason=CallReason.SYMPTOMS,
        message="Synthetic: rash and fever",
        operator_urgency=Urgency.URGENT,
        call_id="c-9",
    )
    outcome = await handle_intake(w.svc, event)
    assert outcome.dispatch_id is not None
    content = vault.contents[outcome.dispatch_id]
    assert content.patient_name == "Test Patient Beta"
    assert content.callback_number == "+15555550101"
    assert content.message == "Synthetic: rash and fever"
    assert content.urgency is Urgency.URGENT
    assert seen_when_paged == [True]


def test_a_registration_with_a_key_that_is_not_a_curve_point_is_refused() -> None:
    phone = VirtualDevice("dr-ash", "phone-1", "ios")
    point = bytearray(b64url_decode(phone.keys.public_key_b64))
    point[-1] ^= 1  # y off by one: the right length, but not on the curve
    not_a_point = b64url_encode(bytes(point))
    with pytest.raises(ValueError, match="P-256 point"):
        _registration(DeviceAction.REGISTER, public_key=not_a_point)
    with pytest.raises(ValueError, match="auth_secret"):
        _registration(DeviceAction.REGISTER, auth_secret="A" * 21)  # under 16 bytes


async def test_the_pushes_of_one_dispatch_share_one_vault_read() -> None:
    import asyncio

    from engine.ports import PushRequest
    from engine.push.apns import ApnsResult
    from engine.push.gateway import ProviderPushGateway

    class CountingVault(MemoryVault):
        reads = 0

        async def get(self, dispatch_id: str) -> PushContent | None:
            CountingVault.reads += 1
            await asyncio.sleep(0.01)
            return await super().get(dispatch_id)

    class AcceptingApns:
        async def send(self, device_token: str, payload: object, **_: object) -> ApnsResult:
            return ApnsResult(ok=True, status=200)

    vault = CountingVault()
    await vault.put(_content())
    apns = AcceptingApns()
    gateway = ProviderPushGateway(vault, MemoryDeviceDirectory(), apns, None)  # type: ignore[arg-type]
    phones = [VirtualDevice("dr-ash", f"phone-{i}", "ios").device for i in range(3)]
    requests = [PushRequest("d-1", d, "urgent", 0, 1, "x") for d in phones]
    await asyncio.gather(*(gateway.send(r) for r in requests))
    assert CountingVault.reads == 1
    await gateway.send(requests[0])  # a later page reads again: nothing is cached
    assert CountingVault.reads == 2


def test_every_acknowledgement_kind_reaches_the_dispatch() -> None:
    from engine.handlers.commands import _DOMAIN_KINDS
    from engine.schemas.acks import AckKind

    assert set(_DOMAIN_KINDS) == set(AckKind)


async def test_a_failed_half_open_trial_does_not_block_the_provider_for_good() -> None:
    from engine.ports import PushRequest
    from engine.push.apns import ApnsResult
    from engine.push.gateway import ProviderPushGateway

    class BrokenApns:
        calls = 0

        async def send(self, device_token: str, payload: object, **_: object) -> ApnsResult:
            BrokenApns.calls += 1
            if BrokenApns.calls == 2:
                raise RuntimeError("a bug during the trial send")
            return ApnsResult(ok=False, status=503, reason="ServiceUnavailable")

    clock = Ticks()
    breaker = CircuitBreaker(threshold=1, cooldown_s=30, clock=clock)
    vault = MemoryVault()
    await vault.put(_content())
    gateway = ProviderPushGateway(
        vault,
        MemoryDeviceDirectory(),
        BrokenApns(),
        None,
        breakers={"apns": breaker},  # type: ignore[arg-type]
    )
    request = PushRequest("d-1", VirtualDevice("dr-ash", "p", "ios").device, "urgent", 0, 1, "x")
    assert not (await gateway.send(request)).ok  # 503: the breaker opens
    clock.t = 30.0
    with pytest.raises(RuntimeError):
        await gateway.send(request)  # the half-open trial fails with a bug
    clock.t = 60.0
    assert not (await gateway.send(request)).ok
    assert BrokenApns.calls == 3  # a later trial was let through, not refused forever
