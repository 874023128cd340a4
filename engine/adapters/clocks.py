"""Clocks: the system clock, and one whose offset lives in Redis so tests and
demos can move a running worker's time forward (``nightline clock advance``).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

__all__ = ["RedisOffsetClock", "SystemClock"]


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RedisOffsetClock:
    """System time plus an offset (seconds) read from Redis every ``refresh_s``."""

    def __init__(self, redis: Redis, key: str, refresh_s: float = 0.05) -> None:
        self._redis = redis
        self._key = key
        self._refresh_s = refresh_s
        self._offset = 0.0
        self._task: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset)

    async def sync(self) -> None:
        raw = await self._redis.get(self._key)
        self._offset = float(raw) if raw is not None else 0.0

    async def run(self) -> None:
        """Keep the offset current until cancelled."""
        while True:
            with contextlib.suppress(Exception):
                await self.sync()
            await asyncio.sleep(self._refresh_s)

    @staticmethod
    async def advance(redis: Redis, key: str, seconds: float) -> float:
        """Move every worker sharing this key forward by ``seconds``; return the new offset."""
        return float(await redis.incrbyfloat(key, seconds))
