"""The device registry in Redis: one hash per clinician, a JSON record per device, and
an owner index (device id -> clinician id) so a device belongs to one clinician.

(Practices live in :mod:`engine.adapters.practice_store` and reach workers through
:mod:`engine.adapters.practice_cache`.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from engine.adapters.redis_keys import Keys
from engine.ports import Device, DeviceOwnedElsewhere

__all__ = ["DeactivatedDevice", "RedisDeviceDirectory"]


@dataclass(frozen=True)
class DeactivatedDevice:
    """A device pushes no longer go to, and why (``at`` is None for deactivations
    recorded before their time was kept)."""

    device: Device
    reason: str
    at: datetime | None


class RedisDeviceDirectory:
    """:class:`engine.ports.DeviceDirectory` and :class:`engine.ports.DeviceRegistry`.

    Each field of a clinician's hash is a device id, each value the device's JSON
    record. Every change is one Lua script that checks the owner index first: a
    device id another clinician owns is refused (:class:`DeviceOwnedElsewhere` for
    register, rotate and remove; False for the others), so two clinicians can never
    both hold one device, even when their apps race. Updates to one device (token
    rotation, deactivation, check-ins) are atomic read-modify-writes, so concurrent
    updates never lose each other's fields.
    """

    def __init__(
        self, redis: Redis, keys: Keys, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._redis, self._keys, self._now = redis, keys, now
        self._register = redis.register_script(_REGISTER)
        self._remove = redis.register_script(_REMOVE)
        self._update_script = redis.register_script(_UPDATE_DEVICE)

    async def register(self, device: Device) -> None:
        """Store or replace a device's whole record (clears any deactivation) and make
        ``device.clinician_id`` its owner."""
        record = json.dumps(asdict(device))
        done = await self._register(
            keys=[self._keys.device_owners, self._keys.devices(device.clinician_id)],
            args=[device.device_id, device.clinician_id, record],
        )
        if int(done) < 0:
            raise DeviceOwnedElsewhere(device.clinician_id, device.device_id)

    async def remove(self, clinician_id: str, device_id: str) -> None:
        """Delete the device and free its id (nothing to do when it is unknown)."""
        done = await self._remove(
            keys=[self._keys.device_owners, self._keys.devices(clinician_id)],
            args=[device_id, clinician_id],
        )
        if int(done) < 0:
            raise DeviceOwnedElsewhere(clinician_id, device_id)

    async def rotate_token(self, clinician_id: str, device_id: str, new_token: str) -> bool:
        """Replace the push token and re-activate the device (a token the provider had
        reported dead is replaced by a fresh one); False if the device is unknown."""
        changes = {"push_token": new_token, **_ACTIVE}
        found = await self._update(clinician_id, device_id, changes)
        if found is None:
            raise DeviceOwnedElsewhere(clinician_id, device_id)
        return found

    async def deactivate(self, clinician_id: str, device_id: str, reason: str) -> bool:
        """Stop pushing to a device but keep its record, why and when; False if unknown."""
        changes = {"active": False, _REASON: reason, _AT: self._now().isoformat()}
        return bool(await self._update(clinician_id, device_id, changes))

    async def reactivate(self, clinician_id: str, device_id: str) -> bool:
        """Push to a deactivated device again, with its token; False if unknown."""
        return bool(await self._update(clinician_id, device_id, dict(_ACTIVE)))

    async def touch(self, clinician_id: str, device_id: str, at: datetime) -> bool:
        """Record that the app checked in at ``at``; False if the device is unknown."""
        return bool(await self._update(clinician_id, device_id, {"last_seen": at.isoformat()}))

    async def get(self, clinician_id: str, device_id: str) -> Device | None:
        """One device, active or not."""
        raw = await self._redis.hget(self._keys.devices(clinician_id), device_id)
        return None if raw is None else _device(json.loads(raw))

    async def deactivation_reason(self, clinician_id: str, device_id: str) -> str | None:
        """Why the device was deactivated (None if active or unknown)."""
        raw = await self._redis.hget(self._keys.devices(clinician_id), device_id)
        record = {} if raw is None else json.loads(raw)
        return None if record.get("active", True) else record.get(_REASON)

    async def deactivated(
        self,
        clinician_id: str | None = None,
        reason_contains: str | None = None,
        after: datetime | None = None,
    ) -> list[DeactivatedDevice]:
        """Deactivated devices of one clinician, or of everyone (a key scan: an
        administrative listing, not for the push path), by clinician and device id;
        only those whose reason contains ``reason_contains`` and, with ``after``, only
        those deactivated since then."""
        if clinician_id is not None:
            hashes = [self._keys.devices(clinician_id)]
        else:
            pattern = _glob_literal(self._keys.devices("")) + "*"
            hashes = sorted([key async for key in self._redis.scan_iter(match=pattern)])
        found: list[DeactivatedDevice] = []
        for key in hashes:
            for raw in await self._redis.hvals(key):
                record = json.loads(raw)
                at, reason = record.get(_AT), record.get(_REASON) or ""
                when = datetime.fromisoformat(at) if isinstance(at, str) else None
                if (
                    not record.get("active", True)
                    and (reason_contains is None or reason_contains in reason)
                    and (after is None or (when is not None and when >= after))
                ):
                    found.append(DeactivatedDevice(_device(record), reason, when))
        return sorted(found, key=lambda d: (d.device.clinician_id, d.device.device_id))

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

    async def _update(
        self, clinician_id: str, device_id: str, changes: dict[str, Any]
    ) -> bool | None:
        """True when updated, False when the clinician has no such device, None when
        another clinician owns the id."""
        updated = await self._update_script(
            keys=[self._keys.device_owners, self._keys.devices(clinician_id)],
            args=[device_id, clinician_id, json.dumps(changes)],
        )
        return None if int(updated) < 0 else bool(updated)


_REASON, _AT = "deactivated_reason", "deactivated_at"
_ACTIVE: dict[str, Any] = {"active": True, _REASON: None, _AT: None}
_DEVICE_FIELDS = frozenset(f.name for f in fields(Device))

# Every script: KEYS[1] the owner index, KEYS[2] the clinician's devices hash;
# ARGV[1] device id, ARGV[2] clinician id. A device registered before the owner
# index existed has no owner entry: its own clinician's change indexes it.
_OTHER_OWNER = """
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner and owner ~= ARGV[2] then return -1 end
"""

# ARGV[3] the whole record.
_REGISTER = (
    _OTHER_OWNER
    + """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""
)

_REMOVE = (
    _OTHER_OWNER
    + """
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""
)

# ARGV[3] a JSON object of fields to set.
_UPDATE_DEVICE = (
    _OTHER_OWNER
    + """
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 0 end
local record = cjson.decode(raw)
for k, v in pairs(cjson.decode(ARGV[3])) do record[k] = v end
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(record))
if not owner then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""
)


def _glob_literal(text: str) -> str:
    """``text`` with Redis glob characters escaped, for a SCAN pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _device(record: dict[str, Any]) -> Device:
    """A Device from a stored record, ignoring keys that are not Device fields."""
    return Device(**{k: v for k, v in record.items() if k in _DEVICE_FIELDS})
