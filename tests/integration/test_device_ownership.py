"""A device belongs to one clinician: one suite, run against the Redis registry and its
in-memory fake, so the fake the handler tests use keeps the real registry's rule."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Protocol

import pytest
from redis.asyncio import Redis

from engine.adapters.redis_directory import RedisDeviceDirectory
from engine.adapters.redis_keys import Keys
from engine.fakes import MemoryDeviceDirectory
from engine.handlers.devices import apply_device_change
from engine.ports import Device, DeviceOwnedElsewhere
from engine.schemas.devices import DeviceAction, DeviceRegistration
from engine.settings import Settings
from engine.standins.virtual_device import VirtualDevice

AT = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)


class Registry(Protocol):
    async def register(self, device: Device) -> None: ...
    async def remove(self, clinician_id: str, device_id: str) -> None: ...
    async def rotate_token(self, clinician_id: str, device_id: str, new_token: str) -> bool: ...
    async def deactivate(self, clinician_id: str, device_id: str, reason: str) -> bool: ...
    async def touch(self, clinician_id: str, device_id: str, at: datetime) -> bool: ...
    async def devices_for(self, clinician_ids: list[str]) -> dict[str, list[Device]]: ...


@pytest.fixture(params=["redis", "memory"])
async def registry(
    request: pytest.FixtureRequest, stack_settings: Settings
) -> AsyncIterator[Registry]:
    if request.param == "memory":
        yield MemoryDeviceDirectory()
        return
    redis = Redis.from_url(stack_settings.redis_dsn)
    prefix = f"test-owners-{uuid.uuid4().hex}"
    yield RedisDeviceDirectory(redis, Keys(prefix))
    keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def phone(clinician_id: str, device_id: str = "phone-1") -> Device:
    return VirtualDevice(clinician_id, device_id, "ios").device


async def ids(registry: Registry, *clinicians: str) -> dict[str, list[str]]:
    found = await registry.devices_for(list(clinicians))
    return {c: [d.device_id for d in devices] for c, devices in found.items()}


async def test_a_device_id_owned_by_another_clinician_cannot_be_registered(
    registry: Registry,
) -> None:
    mine = phone("dr-ames")
    await registry.register(mine)
    with pytest.raises(DeviceOwnedElsewhere):
        await registry.register(phone("dr-mallory"))
    [kept] = (await registry.devices_for(["dr-ames"]))["dr-ames"]
    assert kept.push_token == mine.push_token  # not overwritten
    assert await ids(registry, "dr-mallory") == {"dr-mallory": []}


async def test_the_owner_registers_again_freely(registry: Registry) -> None:
    await registry.register(phone("dr-ames"))
    again = phone("dr-ames")  # a reinstall: new keys and token
    await registry.register(again)
    [kept] = (await registry.devices_for(["dr-ames"]))["dr-ames"]
    assert kept.push_token == again.push_token


async def test_only_the_owner_rotates_or_removes(registry: Registry) -> None:
    mine = phone("dr-ames")
    await registry.register(mine)
    with pytest.raises(DeviceOwnedElsewhere):
        await registry.rotate_token("dr-mallory", "phone-1", "ab" * 32)
    with pytest.raises(DeviceOwnedElsewhere):
        await registry.remove("dr-mallory", "phone-1")
    assert await registry.deactivate("dr-mallory", "phone-1", "apns 410 Unregistered") is False
    assert await registry.touch("dr-mallory", "phone-1", AT) is False
    [kept] = (await registry.devices_for(["dr-ames"]))["dr-ames"]
    assert (kept.push_token, kept.active) == (mine.push_token, True)


async def test_remove_frees_the_id(registry: Registry) -> None:
    await registry.register(phone("dr-ames"))
    await registry.remove("dr-ames", "phone-1")
    await registry.remove("dr-ames", "phone-1")  # a replay: nothing left to do
    await registry.register(phone("dr-birch"))  # the id is free for its next owner
    assert await ids(registry, "dr-ames", "dr-birch") == {
        "dr-ames": [],
        "dr-birch": ["phone-1"],
    }
    with pytest.raises(DeviceOwnedElsewhere):  # a late replay of the old owner's remove
        await registry.remove("dr-ames", "phone-1")


async def test_racing_registrations_leave_exactly_one_owner(registry: Registry) -> None:
    clinicians = [f"dr-{n}" for n in range(8)]
    results = await asyncio.gather(
        *(registry.register(phone(c, "shared")) for c in clinicians), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, DeviceOwnedElsewhere)]
    assert len(refused) == len(clinicians) - 1
    holders = {c: d for c, d in (await ids(registry, *clinicians)).items() if d}
    assert list(holders.values()) == [["shared"]]


def registration(clinician: str, action: DeviceAction, **fields: object) -> DeviceRegistration:
    device = VirtualDevice(clinician, "phone-1", "ios")
    base: dict[str, object] = {
        "clinician_id": clinician,
        "device_id": "phone-1",
        "action": action,
        "at": AT,
    }
    if action is DeviceAction.REGISTER:
        base |= {
            "platform": "ios",
            "push_token": device.push_token,
            "public_key": device.keys.public_key_b64,
            "auth_secret": device.keys.auth_secret_b64,
        }
    return DeviceRegistration.model_validate(base | fields)


async def test_the_handler_refuses_with_an_outcome_and_a_log(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    register = DeviceAction.REGISTER
    assert await apply_device_change(registry, registration("dr-ames", register)) == "registered"
    changes = [
        registration("dr-mallory", register),
        registration("dr-mallory", DeviceAction.ROTATE_TOKEN, push_token="cd" * 32),
        registration("dr-mallory", DeviceAction.REMOVE),
    ]
    outcomes = [await apply_device_change(registry, change) for change in changes]
    assert outcomes == ["device_owned_elsewhere"] * 3
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusals[0] == (
        "refused register of device phone-1 by clinician dr-mallory: "
        "the device belongs to another clinician"
    )
    assert len(refusals) == 3
    assert await ids(registry, "dr-ames") == {"dr-ames": ["phone-1"]}
