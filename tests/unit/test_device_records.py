"""The device record a registration leaves, the answer to a change of someone else's
device, and the "last seen" an acknowledgement from the phone refreshes.

Found by the mutation audit (``make mutation``): the record's token, keys and
critical-alert flag were stored but no unit test read them back. Synthetic ids only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.fakes import MemoryDeviceDirectory
from engine.handlers.commands import handle_ack
from engine.handlers.devices import apply_device_change
from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.devices import DeviceAction, DeviceRegistration
from engine.standins.virtual_device import VirtualDevice
from tests.unit.handler_world import World, claim

AT = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)


def _register(
    phone: VirtualDevice, clinician: str = "dr-ash", **fields: object
) -> DeviceRegistration:
    return DeviceRegistration.model_validate(
        {
            "clinician_id": clinician,
            "device_id": phone.device.device_id,
            "action": DeviceAction.REGISTER,
            "at": AT,
            "platform": "android",
            "push_token": "tok-" + "a" * 20,
            "public_key": phone.keys.public_key_b64,
            "auth_secret": phone.keys.auth_secret_b64,
            "app_version": "3.1.0",
        }
        | fields
    )


async def test_a_registration_stores_the_token_the_keys_and_the_alert_permission() -> None:
    registry = MemoryDeviceDirectory()
    phone = VirtualDevice("dr-ash", "phone-7", "android")
    change = _register(
        phone,
        public_key=phone.keys.public_key_b64 + "=",  # some apps send padded base64url
        auth_secret=phone.keys.auth_secret_b64 + "==",
        critical_alerts=True,
    )
    assert await apply_device_change(registry, change) == "registered"
    [device] = (await registry.devices_for(["dr-ash"]))["dr-ash"]
    assert (device.device_id, device.clinician_id, device.platform) == (
        "phone-7",
        "dr-ash",
        "android",
    )
    assert device.push_token == "tok-" + "a" * 20
    assert device.public_key == phone.keys.public_key_b64  # as the phone made it
    assert device.auth_secret == phone.keys.auth_secret_b64
    assert not device.public_key.endswith("=") and not device.auth_secret.endswith("=")
    assert device.critical_alerts is True and device.active


async def test_critical_alerts_are_off_unless_the_phone_allowed_them() -> None:
    registry = MemoryDeviceDirectory()
    await apply_device_change(registry, _register(VirtualDevice("dr-ash", "phone-7", "ios")))
    [device] = (await registry.devices_for(["dr-ash"]))["dr-ash"]
    assert device.critical_alerts is False


async def test_a_change_to_another_clinician_s_device_is_refused_and_changes_nothing() -> None:
    registry = MemoryDeviceDirectory()
    phone = VirtualDevice("dr-ash", "phone-7", "ios")
    await apply_device_change(registry, _register(phone))
    taken = _register(phone, clinician="dr-birch", push_token="tok-" + "b" * 20)
    assert await apply_device_change(registry, taken) == "device_owned_elsewhere"
    devices = await registry.devices_for(["dr-ash", "dr-birch"])
    assert devices["dr-birch"] == [] and devices["dr-ash"][0].push_token == "tok-" + "a" * 20


class _RecordingRegistry(MemoryDeviceDirectory):
    """The world's device directory, noting every "last seen" refresh."""

    def __init__(self, devices: MemoryDeviceDirectory) -> None:
        super().__init__(devices.devices, devices.owners, devices.reasons)
        self.touched: list[tuple[str, str, datetime]] = []

    async def touch(self, clinician_id: str, device_id: str, at: datetime) -> bool:
        self.touched.append((clinician_id, device_id, at))
        return await super().touch(clinician_id, device_id, at)


def _from_phone(
    dispatch_id: str, kind: AckKind, at: datetime, device: str | None
) -> Acknowledgement:
    return Acknowledgement(
        dispatch_id=dispatch_id, clinician_id="dr-ash", device_id=device, kind=kind, page=1, at=at
    )


async def test_an_acknowledgement_from_a_phone_refreshes_its_last_seen() -> None:
    w = World()
    registry = _RecordingRegistry(w.svc.devices)  # type: ignore[arg-type]
    w.svc.devices = w.svc.device_registry = registry
    dispatch_id = await w.urgent_call()
    seen = AT + timedelta(minutes=5)
    await handle_ack(w.svc, _from_phone(dispatch_id, AckKind.RECEIVED, seen, "dr-ash-phone"))
    await handle_ack(w.svc, _from_phone(dispatch_id, AckKind.READ, seen, None))  # no device named
    await handle_ack(w.svc, claim(dispatch_id))  # an operator: no phone
    assert registry.touched == [("dr-ash", "dr-ash-phone", seen)]
    [device] = (await registry.devices_for(["dr-ash"]))["dr-ash"]
    assert device.last_seen == seen.isoformat()


async def test_an_acknowledgement_naming_a_phone_needs_no_device_registry() -> None:
    w = World()
    assert w.svc.device_registry is None  # a worker that does not consume device changes
    dispatch_id = await w.urgent_call()
    ack = _from_phone(dispatch_id, AckKind.ACCEPTED, AT, "dr-ash-phone")
    decision = await handle_ack(w.svc, ack)
    assert decision is not None and decision.state.accepted_by == "dr-ash"
