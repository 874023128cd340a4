"""Held messages and the timer index in Redis (dispatches and their effects are in
:mod:`engine.adapters.redis_dispatches`, re-exported here).

Timers are one sorted set scored by due time: ``claim_due`` atomically re-scores due
entries to a lease end, so a worker that dies after claiming loses nothing (the timer
fires again after the lease) and handlers drop stale firings by page.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from engine.adapters.redis_dispatches import RedisDispatchStore, to_ms
from engine.adapters.redis_keys import Keys
from engine.ports import DueTimer

__all__ = ["RedisDispatchStore", "RedisHeldStore", "RedisTimerIndex", "to_ms"]

_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], member)
  table.insert(out, member)
  table.insert(out, redis.call('HGET', KEYS[2], member) or ARGV[1])
end
return out
"""

_HOLD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[2])
return 1
"""


def from_ms(value: int | float | bytes | str) -> datetime:
    return datetime.fromtimestamp(int(float(value)) / 1000, tz=UTC)


class RedisHeldStore:
    """:class:`engine.ports.HeldStore` on Redis."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._hold = redis.register_script(_HOLD)

    async def hold(
        self, held_id: str, record: dict[str, Any], release_at: datetime, timer_member: str
    ) -> bool:
        keys = [self._keys.held(held_id), self._keys.timers, self._keys.timer_due]
        args = [json.dumps(record), to_ms(release_at), timer_member]
        return bool(await self._hold(keys=keys, args=args))

    async def get(self, held_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(self._keys.held(held_id))
        return None if raw is None else dict(json.loads(raw))

    async def forget(self, held_id: str, timer_member: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.held(held_id))
            pipe.zrem(self._keys.timers, timer_member)
            pipe.hdel(self._keys.timer_due, timer_member)
            await pipe.execute()

    async def mark_seen(self, key: str, ttl_s: int, value: str = "1") -> bool:
        return bool(await self._redis.set(self._keys.seen(key), value, nx=True, ex=ttl_s))

    async def was_seen(self, key: str) -> bool:
        return bool(await self._redis.exists(self._keys.seen(key)))

    async def seen_value(self, key: str) -> str | None:
        raw = await self._redis.get(self._keys.seen(key))
        return None if raw is None else _text(raw)


class RedisTimerIndex:
    """:class:`engine.ports.TimerIndex` on a Redis sorted set."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._claim = redis.register_script(_CLAIM)

    async def claim_due(self, now: datetime, lease_s: float, limit: int) -> list[DueTimer]:
        keys = [self._keys.timers, self._keys.timer_due]
        args = [to_ms(now), to_ms(now) + int(lease_s * 1000), limit]
        flat = await self._claim(keys=keys, args=args)
        return [
            DueTimer(member=_text(flat[i]), due_at=from_ms(_text(flat[i + 1])))
            for i in range(0, len(flat), 2)
        ]

    async def remove(self, members: list[str]) -> None:
        if not members:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._keys.timers, *members)
            pipe.hdel(self._keys.timer_due, *members)
            await pipe.execute()

    async def pending(self) -> int:
        return int(await self._redis.zcard(self._keys.timers))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
