"""The API's read model: usage counters for billing and each dispatch's history, kept in
Redis from the topics the engine already publishes (never by scanning Kafka per request).

One consumer group for all API processes reads ``intake``, ``dispatch.state``, ``audit``,
``operator.alerts``, ``office.held`` and ``telephony.transfers``, applies each record,
and commits its offsets after; a record applied before a crash and read again is
skipped by its event id (remembered for two days), so nothing counts twice. Every audit
record also extends the audit hash chain (:mod:`engine.api.audit_chain`).

Kept per practice: ``usage:<practice>:<local day>`` counters, ``message-index``
(dispatches by creation time), and per dispatch its row (``message-meta``) and its
timeline (``message-timeline``, the audit entries: actions, actors, statuses, never
content), and each practice's audit log (``practice-audit``: every audit record of the
practice as JSON by time, at most the newest 200,000). All of it is kept 400 days.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from engine.adapters.practice_cache import PracticeCache
from engine.adapters.redis_keys import Keys
from engine.api.audit_chain import AuditChain
from engine.api.usage_rules import intake_counters, local_day, transition_counters
from engine.failures import describe_failure
from engine.schemas.audit import AuditEvent
from engine.schemas.catalogue import spec
from engine.schemas.codec import DecodeError, decode
from engine.schemas.dispatch import DispatchStateChanged
from engine.schemas.outbound import HeldForOffice, LiveTransferInstruction, OperatorAlert
from engine.settings import Settings

__all__ = ["TOPICS", "ReadModel"]

log = logging.getLogger(__name__)

TOPICS = ("intake", "dispatch.state", "audit", "operator.alerts", "office.held",
          "telephony.transfers")  # fmt: skip
_SEEN_S = 2 * 24 * 3600
_KEEP_S = 400 * 24 * 3600
_AUDIT_MAX = 200_000


class ReadModel:
    def __init__(
        self, settings: Settings, redis: Redis, keys: Keys, practices: PracticeCache
    ) -> None:
        self._settings, self._redis, self._keys = settings, redis, keys
        self._practices = practices
        self._topics = {settings.topic(name): name for name in TOPICS}
        self._stopping = asyncio.Event()
        self.chain = AuditChain(redis, keys)

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("read model lost Kafka or Redis: %s; retrying", describe_failure(exc))
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        self._stopping.set()

    async def _follow(self) -> None:
        await self._practices.caught_up.wait()  # days are the practices' own
        consumer = AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._settings.kafka_servers,
            group_id=f"{self._settings.app_id}-api-read-model",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="nightline-api-read-model",
        )
        await consumer.start()
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                for tp, records in batches.items():
                    name = self._topics[tp.topic]
                    for record in records:
                        if name == "audit":  # every record, in order, duplicates included
                            await self.chain.add(tp.partition, record.offset, record.value or b"")
                        await self.apply(name, record.value)
                if batches:
                    await consumer.commit()
        finally:
            await consumer.stop()

    async def apply(self, name: str, value: bytes | None) -> None:
        """Apply one record of the catalogue topic ``name`` once: its writes and the mark
        that it was applied go to Redis in one transaction (MULTI), so a crash or a
        cancellation leaves either both or neither, and a redelivery is skipped."""
        try:
            event = decode(spec(name).adapter, value)
        except DecodeError:
            return  # invalid intake is counted nowhere: the worker dead-letters it
        seen = self._keys.read_model_seen(name, str(event.event_id))
        if await self._redis.exists(seen):
            return
        pipe = self._redis.pipeline(transaction=True)
        if name == "intake":
            seconds = getattr(event, "duration_seconds", None)
            await self._count(
                pipe, event.practice_id, event.received_at, intake_counters(event.kind, seconds)
            )
        elif isinstance(event, DispatchStateChanged):
            await self._state(pipe, event)
        elif isinstance(event, AuditEvent):
            self._practice_audit(pipe, event)
            if event.subject_type == "dispatch":
                self._timeline(pipe, event)
        elif isinstance(event, OperatorAlert) and event.alert == 1:
            await self._count(pipe, event.practice_id, event.at, {"desk_alerts": 1})
        elif isinstance(event, HeldForOffice):
            await self._count(pipe, event.practice_id, event.at, {"held_messages": 1})
        elif isinstance(event, LiveTransferInstruction):
            await self._count(pipe, event.practice_id, event.at, {"live_transfers": 1})
        pipe.set(seen, "1", ex=_SEEN_S)
        await pipe.execute()

    async def _zone(self, practice_id: str) -> ZoneInfo | None:
        practice = await self._practices.get(practice_id)  # the cache, else Redis
        return practice.zone if practice is not None else None

    async def _count(self, pipe: Any, practice_id: str, at: Any, counts: dict[str, int]) -> None:
        key = self._keys.usage(practice_id, local_day(at, await self._zone(practice_id)))
        for name, n in counts.items():
            pipe.hincrby(key, name, n)
        pipe.expire(key, _KEEP_S)

    async def _state(self, pipe: Any, change: DispatchStateChanged) -> None:
        meta_key = self._keys.message_meta(change.dispatch_id)
        before = await self._redis.hmget(meta_key, "level", "version")
        level = before[0].decode() if before[0] is not None else None
        newer = before[1] is not None and int(before[1]) >= change.version
        await self._count(pipe, change.practice_id, change.at, transition_counters(change, level))
        if change.from_status is None:
            created = {"practice_id": change.practice_id, "urgency": str(change.urgency),
                       "created_at": change.at.isoformat()}  # fmt: skip
            pipe.hset(meta_key, mapping=created)
            created_ms = int(change.at.timestamp() * 1000)
            index = self._keys.message_index(change.practice_id)
            pipe.zadd(index, {change.dispatch_id: created_ms})
            pipe.zremrangebyscore(index, "-inf", created_ms - _KEEP_S * 1000)
        if not newer:  # a rebalance can hand over an older change after a newer one
            pipe.hset(meta_key, mapping={"status": change.to_status, "level": change.level_name,
                                         "updated_at": change.at.isoformat(),
                                         "version": str(change.version)})  # fmt: skip
        pipe.expire(meta_key, _KEEP_S)

    def _timeline(self, pipe: Any, event: AuditEvent) -> None:
        entry = {"at": event.at.isoformat(), "action": event.action, "actor": event.actor,
                 "from_status": event.from_status, "to_status": event.to_status,
                 "step": event.step, "detail": event.detail}  # fmt: skip
        key = self._keys.message_timeline(event.subject_id)
        pipe.rpush(key, json.dumps(entry, separators=(",", ":")))
        pipe.expire(key, _KEEP_S)

    def _practice_audit(self, pipe: Any, event: AuditEvent) -> None:
        """Index the record under its practice: the JSON is the member (its event id
        makes it unique), the time the score; older than the retention or beyond the
        newest ``_AUDIT_MAX`` is trimmed."""
        key = self._keys.practice_audit(event.practice_id)
        at_ms = int(event.at.timestamp() * 1000)
        pipe.zadd(key, {event.model_dump_json(): at_ms})
        pipe.zremrangebyscore(key, "-inf", at_ms - _KEEP_S * 1000)
        pipe.zremrangebyrank(key, 0, -_AUDIT_MAX - 1)
        pipe.expire(key, _KEEP_S)
