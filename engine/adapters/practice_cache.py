"""The worker's practice cache: kept current by the compacted ``practices`` topic.

Every worker reads the whole topic from the beginning on all partitions, with
no consumer group (manual assignment, nothing committed), so each worker knows
every practice and sees a change as soon as the store publishes it. Events
never read Redis, except on a miss: a practice not (yet) in the cache is read
once from Redis, the authoritative copy, so a practice saved a moment ago is
never "unknown" (this also covers practices written to Redis directly). An
older revision never replaces a newer one, whichever path brought it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.asyncio import Redis

from engine.adapters.model_compaction import Compactor
from engine.adapters.redis_keys import Keys
from engine.domain.practice import Practice
from engine.schemas.catalogue import spec
from engine.schemas.codec import DecodeError, decode

__all__ = ["PracticeCache"]

log = logging.getLogger(__name__)


class PracticeCache:
    """:class:`engine.ports.PracticeDirectory` fed by a topic, with a Redis fallback."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        bootstrap_servers: str,
        topic: str,
        *,
        retry_s: float = 1.0,
        poll_ms: int = 500,
        consumer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._topic = topic
        self._compactor = Compactor()
        self._retry_s = retry_s
        self._poll_ms = poll_ms
        self._new_consumer = consumer_factory or (
            lambda: AIOKafkaConsumer(
                bootstrap_servers=bootstrap_servers,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                client_id="nightline-practice-cache",
            )
        )
        self._practices: dict[str, Practice] = {}
        self._stopping = asyncio.Event()
        self.caught_up = asyncio.Event()
        """Set once everything on the topic at start has been read (readiness waits for it)."""
        self.redis_reads = 0

    async def get(self, practice_id: str) -> Practice | None:
        cached = self._practices.get(practice_id)
        if cached is not None:
            return cached
        self.redis_reads += 1
        raw = await self._redis.get(self._keys.practice(practice_id))
        if raw is None:
            return None
        self._remember(Practice.model_validate_json(raw))
        return self._practices[practice_id]

    def cached(self, practice_id: str) -> Practice | None:
        """What the cache holds now, without the Redis fallback."""
        return self._practices.get(practice_id)

    def apply(self, key: bytes | None, value: bytes | None) -> bool:
        """Take one record of the topic; True when the cache changed."""
        if value is None:  # a tombstone: the practice was removed
            return key is not None and self._practices.pop(key.decode(), None) is not None
        try:
            event = decode(spec("practices").adapter, value)
        except DecodeError as exc:
            log.warning("skipping a record on %s: %s", self._topic, exc.code)
            return False
        return self._remember(event.practice)

    def _remember(self, practice: Practice) -> bool:
        current = self._practices.get(practice.practice_id)
        if current is not None and current.revision > practice.revision:
            return False
        self._practices[practice.practice_id] = self._compactor.compact(practice)
        return True

    async def run(self) -> None:
        """Follow the topic until :meth:`stop` or cancellation; reconnect after errors."""
        while not self._stopping.is_set():
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("practice cache lost %s; retrying", self._topic)
                await self._pause(self._retry_s)

    async def stop(self) -> None:
        """Ask :meth:`run` to return (within one poll interval)."""
        self._stopping.set()

    async def _follow(self) -> None:
        consumer = self._new_consumer()
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            if not partitions:
                return
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            while not self._stopping.is_set():
                if not self.caught_up.is_set():  # checked before polling: an empty topic is read
                    positions = [await consumer.position(tp) for tp in partitions]
                    if all(pos >= ends[tp] for pos, tp in zip(positions, partitions, strict=True)):
                        log.info("practice cache has read %s (%d)", self._topic, len(self))
                        self.caught_up.set()
                batches = await consumer.getmany(timeout_ms=self._poll_ms, max_records=1000)
                for records in batches.values():
                    for record in records:
                        self.apply(record.key, record.value)
        finally:
            await consumer.stop()
            log.info("practice cache stopped reading %s", self._topic)

    async def _partitions(self, consumer: Any) -> list[TopicPartition]:
        """All partitions of the topic, waiting for it to exist (never auto-creating it).

        Assigning partition 0 (every topic has one) makes the client fetch the
        topic's metadata, which lists the others.
        """
        while not self._stopping.is_set():
            if self._topic in await consumer.topics():
                consumer.assign([TopicPartition(self._topic, 0)])
                for _ in range(100):
                    found = consumer.partitions_for_topic(self._topic)
                    if found:
                        return [TopicPartition(self._topic, p) for p in sorted(found)]
                    await asyncio.sleep(0.05)
            await self._pause(self._retry_s)
        return []

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def __len__(self) -> int:
        return len(self._practices)
