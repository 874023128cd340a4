"""Shift swap requests in Redis: one JSON string per request, and a sorted set per
practice (by creation time) to list them. A change is a compare-and-set on the status,
so two administrators deciding at once cannot both succeed. A request expires a week
after its shift ends; the list forgets one after 120 days."""

from __future__ import annotations

from datetime import datetime, timedelta

from redis.asyncio import Redis

from engine.adapters.redis_keys import Keys
from engine.domain.swaps import SwapRequest, SwapStatus

__all__ = ["SwapRequestStore"]

_KEPT_AFTER_END = timedelta(days=7)
_LISTED = 200
_INDEX_KEPT = timedelta(days=120)

_SWITCH = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if cjson.decode(current)['status'] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
"""


class SwapRequestStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._prefix = keys.prefix

    def _one(self, request_id: str) -> str:
        return f"{self._prefix}:swap-request:{request_id}"

    def _of(self, practice_id: str) -> str:
        return f"{self._prefix}:swap-requests:{practice_id}"

    async def add(self, request: SwapRequest, now: datetime) -> None:
        expires = max(int((request.end + _KEPT_AFTER_END - now).total_seconds()), 60)
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self._one(request.request_id), request.model_dump_json(), ex=expires)
        pipe.zadd(self._of(request.practice_id), {request.request_id: now.timestamp()})
        pipe.zremrangebyscore(self._of(request.practice_id), "-inf",
                              (now - _INDEX_KEPT).timestamp())  # fmt: skip
        pipe.expire(self._of(request.practice_id), int(_INDEX_KEPT.total_seconds()))
        await pipe.execute()

    async def get(self, practice_id: str, request_id: str) -> SwapRequest | None:
        """The request, if it is one of that practice's."""
        raw = await self._redis.get(self._one(request_id))
        if raw is None:
            return None
        request = SwapRequest.model_validate_json(raw)
        return request if request.practice_id == practice_id else None

    async def of_practice(self, practice_id: str) -> list[SwapRequest]:
        """The practice's requests still kept, newest first."""
        ids = await self._redis.zrevrange(self._of(practice_id), 0, _LISTED - 1)
        if not ids:
            return []
        raws = await self._redis.mget([self._one(i.decode() if isinstance(i, bytes) else i)
                                       for i in ids])  # fmt: skip
        found = [SwapRequest.model_validate_json(r) for r in raws if r is not None]
        return [r for r in found if r.practice_id == practice_id]

    async def switch(self, before: SwapStatus, changed: SwapRequest) -> bool:
        """Store ``changed`` if the stored request is still ``before``; False if not."""
        done = await self._redis.eval(
            _SWITCH, 1, self._one(changed.request_id), before.value, changed.model_dump_json()
        )
        return bool(done)
