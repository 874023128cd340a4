"""The device registry on the real Redis: register, rotate, deactivate (when and why),
reactivate, touch, remove. Ownership: test_device_ownership.py."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from engine.adapters.redis_directory import RedisDeviceDirectory
from engine.adapters.redis_keys import Keys
from engine.ports import Device, DeviceOwnedElsewhere
from engine.settings import Settings
from engine.standins.virtual_device import VirtualDevice


@pytest.fixture()
async def registry(stack_settings: Settings) -> AsyncIterator[tuple[RedisDeviceDirectory, Redis]]:
    redis = Redis.from_url(stack_settings.redis_dsn)
    prefix = f"test-devices-{uuid.uuid4().hex}"
    yield RedisDeviceDirectory(redis, Keys(prefix)), redis
    keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def phone(clinician_id: str = "dr-ames", device_id: str = "phone-a") -> Device:
    return VirtualDevice(clinician_id, device_id, "ios", critical_alerts=True).device


async def test_register_keeps_every_field(registry: tuple[RedisDeviceDirectory, Redis]) -> None:
    directory, _ = registry
    device = phone()
    await directory.register(device)
    assert await directory.get("dr-ames", "phone-a") == device
    assert await directory.devices_for(["dr-ames", "dr-nobody"]) == {
        "dr-ames": [device],
        "dr-nobody": [],
    }


async def test_rotate_token(registry: tuple[RedisDeviceDirectory, Redis]) -> None:
    directory, _ = registry
    device = phone()
    await directory.register(device)
    assert await directory.rotate_token("dr-ames", "phone-a", "new-token") is True
    rotated = await directory.get("dr-ames", "phone-a")
    assert rotated is not None and rotated.push_token == "new-token"
    assert rotated.public_key == device.public_key and rotated.critical_alerts
    assert await directory.rotate_token("dr-ames", "phone-zzz", "x") is False
    assert await directory.get("dr-ames", "phone-zzz") is None


async def test_rotating_a_dead_token_reactivates(
    registry: tuple[RedisDeviceDirectory, Redis],
) -> None:
    directory, _ = registry
    await directory.register(phone())
    await directory.deactivate("dr-ames", "phone-a", "apns 410 Unregistered")
    assert await directory.devices_for(["dr-ames"]) == {"dr-ames": []}
    assert await directory.rotate_token("dr-ames", "phone-a", "fresh-token") is True
    [device] = (await directory.devices_for(["dr-ames"]))["dr-ames"]
    assert device.active and device.push_token == "fresh-token"
    assert await directory.deactivation_reason("dr-ames", "phone-a") is None


async def test_deactivate_keeps_the_record(registry: tuple[RedisDeviceDirectory, Redis]) -> None:
    directory, _ = registry
    a, b = phone(device_id="phone-a"), phone(device_id="phone-b")
    await directory.register(a)
    await directory.register(b)
    assert await directory.deactivate("dr-ames", "phone-a", "apns: Unregistered") is True
    assert await directory.devices_for(["dr-ames"]) == {"dr-ames": [b]}
    kept = await directory.get("dr-ames", "phone-a")
    assert kept is not None and kept.active is False and kept.push_token == a.push_token
    assert await directory.deactivation_reason("dr-ames", "phone-a") == "apns: Unregistered"
    assert await directory.deactivation_reason("dr-ames", "phone-b") is None
    assert await directory.deactivate("dr-ames", "phone-zzz", "gone") is False
    await directory.register(a)  # the app registers again
    assert await directory.deactivation_reason("dr-ames", "phone-a") is None
    assert len((await directory.devices_for(["dr-ames"]))["dr-ames"]) == 2


async def test_touch_and_remove(registry: tuple[RedisDeviceDirectory, Redis]) -> None:
    directory, _ = registry
    await directory.register(phone())
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert await directory.touch("dr-ames", "phone-a", at) is True
    touched = await directory.get("dr-ames", "phone-a")
    assert touched is not None and datetime.fromisoformat(touched.last_seen) == at
    await directory.remove("dr-ames", "phone-a")
    assert await directory.get("dr-ames", "phone-a") is None
    assert await directory.touch("dr-ames", "phone-a", at) is False


async def test_concurrent_updates_lose_nothing(
    registry: tuple[RedisDeviceDirectory, Redis],
) -> None:
    directory, _ = registry
    await directory.register(phone())
    at = datetime(2030, 1, 2, tzinfo=UTC)
    await asyncio.gather(
        directory.rotate_token("dr-ames", "phone-a", "tok-2"),
        directory.touch("dr-ames", "phone-a", at),
        directory.deactivate("dr-ames", "phone-a", "replaced"),
    )
    device = await directory.get("dr-ames", "phone-a")
    assert device is not None
    assert (device.push_token, device.last_seen, device.active) == ("tok-2", at.isoformat(), False)


async def test_old_and_future_records_still_load(
    registry: tuple[RedisDeviceDirectory, Redis],
) -> None:
    directory, redis = registry
    hash_key = directory._keys.devices("dr-old")
    old = {"device_id": "p1", "clinician_id": "dr-old", "platform": "android", "push_token": "t"}
    await redis.hset(hash_key, "p1", json.dumps({**old, "active": True}))
    await redis.hset(hash_key, "p2", json.dumps({**old, "device_id": "p2", "future": 1}))
    found = await directory.devices_for(["dr-old"])
    assert [d.device_id for d in found["dr-old"]] == ["p1", "p2"]
    assert found["dr-old"][0].public_key == "" and found["dr-old"][0].critical_alerts is False


async def test_deactivation_keeps_when_and_reactivation_clears_it(
    registry: tuple[RedisDeviceDirectory, Redis],
) -> None:
    redis = registry[1]
    when = datetime(2030, 5, 6, 7, 8, tzinfo=UTC)
    directory = RedisDeviceDirectory(redis, registry[0]._keys, now=lambda: when)
    a, b = phone(device_id="phone-a"), phone("dr-birch", "phone-b")
    for device in (a, b, phone(device_id="phone-c")):
        await directory.register(device)
    await directory.deactivate("dr-ames", "phone-a", "apns 400 BadDeviceToken")
    await directory.deactivate("dr-birch", "phone-b", "fcm 404 UNREGISTERED")
    found = await directory.deactivated()
    assert [(d.device.device_id, d.reason, d.at) for d in found] == [
        ("phone-a", "apns 400 BadDeviceToken", when),
        ("phone-b", "fcm 404 UNREGISTERED", when),
    ]
    assert [d.device.device_id for d in await directory.deactivated("dr-birch")] == ["phone-b"]
    assert await directory.reactivate("dr-ames", "phone-a") is True
    assert await directory.reactivate("dr-ames", "phone-zzz") is False
    [back] = [
        d for d in (await directory.devices_for(["dr-ames"]))["dr-ames"] if d.device_id == "phone-a"
    ]
    assert back.push_token == a.push_token  # the same token, pushed again
    assert await directory.deactivation_reason("dr-ames", "phone-a") is None
    assert [d.device.device_id for d in await directory.deactivated()] == ["phone-b"]


async def test_a_device_stored_before_the_owner_index_is_indexed_by_its_own_update(
    registry: tuple[RedisDeviceDirectory, Redis],
) -> None:
    directory, redis = registry
    legacy = phone()
    await redis.hset(
        directory._keys.devices("dr-ames"), "phone-a", json.dumps(dataclasses.asdict(legacy))
    )
    assert await directory.touch("dr-ames", "phone-a", datetime(2030, 1, 1, tzinfo=UTC))
    with pytest.raises(DeviceOwnedElsewhere):
        await directory.register(phone("dr-mallory"))
