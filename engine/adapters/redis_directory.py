"""The device registry in Redis: one hash per clinician, a JSON record per device.

(Practices live in :mod:`engine.adapters.practice_store` and reach workers through
:mod:`engine.adapters.practice_cache`.)
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from engine.adapters.redis_keys import Keys
from engine.ports import Device

__all__ = ["RedisDeviceDirectory"]


class RedisDeviceDirectory:
    """:class:`engine.ports.DeviceDirectory`: one hash of devices per clinician.

    Each field is a device id, each value the device's JSON record. Updates to one
    device (token rotation, deactivation, check-ins) are atomic Lua read-modify-writes,
    so concurrent updates never lose each other's fields.
    """

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._update_script = redis.register_script(_UPDATE_DEVICE)

    async def register(self, device: Device) -> None:
        """Store or replace a device's whole record (clears any deactivation)."""
        await self._redis.hset(
            self._keys.devices(device.clinician_id), device.device_id, json.dumps(asdict(device))
        )

    async def remove(self, clinician_id: str, device_id: str) -> None:
        await self._redis.hdel(self._keys.devices(clinician_id), device_id)

    async def rotate_token(self, clinician_id: str, device_id: str, new_token: str) -> bool:
        """Replace the push token and re-activate the device (a token the provider had
        reported dead is replaced by a fresh one); False if the device is unknown."""
        changes = {"push_token": new_token, "active": True, _REASON: None}
        return await self._update(clinician_id, device_id, changes)

    async def deactivate(self, clinician_id: str, device_id: str, reason: str) -> bool:
        """Stop pushing to a device but keep its record and why; False if unknown."""
        changes = {"active": False, _REASON: reason}
        return await self._update(clinician_id, device_id, changes)

    async def touch(self, clinician_id: str, device_id: str, at: datetime) -> bool:
        """Record that the app checked in at ``at``; False if the device is unknown."""
        return await self._update(clinician_id, device_id, {"last_seen": at.isoformat()})

    async def get(self, clinician_id: str, device_id: str) -> Device | None:
        """One device, active or not."""
        raw = await self._redis.hget(self._keys.devices(clinician_id), device_id)
        return None if raw is None else _device(json.loads(raw))

    async def deactivation_reason(self, clinician_id: str, device_id: str) -> str | None:
        """Why the device was deactivated (None if active or unknown)."""
        raw = await self._redis.hget(self._keys.devices(clinician_id), device_id)
        record = {} if raw is None else json.loads(raw)
        return None if record.get("active", True) else record.get(_REASON)

    async def devices_for(self, clinician_ids: list[str]) -> dict[str, list[Device]]:
        """Active devices per clinician, sorted by device id."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for clinician_id in clinician_ids:
                pipe.hvals(self._keys.devices(clinician_id))
            rows = await pipe.execute()
        found: dict[str, list[Device]] = {}
        for clinician_id, values in zip(clinician_ids, rows, strict=True):
            devices = [_device(json.loads(v)) for v in values]
            found[clinician_id] = sorted(
                (d for d in devices if d.active), key=lambda d: d.device_id
            )
        return found

    async def _update(self, clinician_id: str, device_id: str, changes: dict[str, Any]) -> bool:
        updated = await self._update_script(
            keys=[self._keys.devices(clinician_id)], args=[device_id, json.dumps(changes)]
        )
        return bool(updated)


_REASON = "deactivated_reason"
_DEVICE_FIELDS = frozenset(f.name for f in fields(Device))

# KEYS[1] devices hash; ARGV[1] device id, ARGV[2] JSON object of fields to set.
_UPDATE_DEVICE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local record = cjson.decode(raw)
for k, v in pairs(cjson.decode(ARGV[2])) do record[k] = v end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
return 1
"""


def _device(record: dict[str, Any]) -> Device:
    """A Device from a stored record, ignoring keys that are not Device fields."""
    return Device(**{k: v for k, v in record.items() if k in _DEVICE_FIELDS})
