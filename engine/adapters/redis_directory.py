"""Practices and devices kept in Redis.

Practices are cached in the worker and refreshed when the practices revision
counter moves (one Redis read per refresh interval, not per event); a cache
miss reads Redis once before a practice is declared unknown.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from redis.asyncio import Redis

from engine.adapters.redis_keys import Keys
from engine.domain.practice import Practice
from engine.ports import Device

__all__ = ["RedisDeviceDirectory", "RedisPracticeDirectory"]


class RedisPracticeDirectory:
    """:class:`engine.ports.PracticeDirectory` with an in-process cache."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._cache: dict[str, Practice] = {}
        self._revision: int | None = None

    async def get(self, practice_id: str) -> Practice | None:
        cached = self._cache.get(practice_id)
        if cached is not None:
            return cached
        raw = await self._redis.get(self._keys.practice(practice_id))
        if raw is None:
            return None
        practice = Practice.model_validate_json(raw)
        self._cache[practice_id] = practice
        return practice

    async def put(self, practice: Practice) -> None:
        """Store or replace a practice and bump the revision so workers reload."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.practice(practice.practice_id), practice.model_dump_json())
            pipe.sadd(self._keys.practices, practice.practice_id)
            pipe.incr(self._keys.practices_revision)
            await pipe.execute()

    async def refresh(self) -> bool:
        """Reload every practice if the revision moved; True when it reloaded."""
        revision = int(await self._redis.get(self._keys.practices_revision) or 0)
        if revision == self._revision:
            return False
        ids = sorted(
            m.decode() if isinstance(m, bytes) else m
            for m in await self._redis.smembers(self._keys.practices)
        )
        raws = await self._redis.mget([self._keys.practice(i) for i in ids]) if ids else []
        self._cache = {
            pid: Practice.model_validate_json(raw)
            for pid, raw in zip(ids, raws, strict=True)
            if raw is not None
        }
        self._revision = revision
        return True


class RedisDeviceDirectory:
    """:class:`engine.ports.DeviceDirectory`: one hash of devices per clinician."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def register(self, device: Device) -> None:
        await self._redis.hset(
            self._keys.devices(device.clinician_id), device.device_id, json.dumps(asdict(device))
        )

    async def remove(self, clinician_id: str, device_id: str) -> None:
        await self._redis.hdel(self._keys.devices(clinician_id), device_id)

    async def devices_for(self, clinician_ids: list[str]) -> dict[str, list[Device]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for clinician_id in clinician_ids:
                pipe.hvals(self._keys.devices(clinician_id))
            rows = await pipe.execute()
        found: dict[str, list[Device]] = {}
        for clinician_id, values in zip(clinician_ids, rows, strict=True):
            devices = [Device(**json.loads(v)) for v in values]
            found[clinician_id] = sorted(
                (d for d in devices if d.active), key=lambda d: d.device_id
            )
        return found
