"""Feeds the desk board from Kafka and fans its changes out to live consoles.

Every API process reads ``operator.alerts`` and ``dispatch.state`` itself (no consumer
group, nothing committed), from :data:`replay window <replay_window_s>` back, so each
can serve the whole queue and its own Server-Sent Event streams. ``caught_up`` is set
once the records that were there at start have been read.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.api.desk_board import DeskBoard, DeskChange
from engine.failures import describe_failure
from engine.ports import Clock
from engine.schemas.catalogue import spec
from engine.schemas.codec import DecodeError, decode
from engine.schemas.dispatch import DispatchStateChanged
from engine.schemas.outbound import OperatorAlert

__all__ = ["DeskFeed", "Subscription", "replay_window_s"]

log = logging.getLogger(__name__)


def replay_window_s(desk_timeout_s: float) -> float:
    """How far back to read: an unclaimed alert is re-published every desk timeout."""
    return max(3600.0, 3 * desk_timeout_s)


class Subscription:
    """One live console's changes. ``closed`` is set when it fell too far behind or the
    feed stops: its stream then ends, and the console reconnects for a fresh snapshot."""

    def __init__(self, size: int = 1000) -> None:
        self.queue: asyncio.Queue[DeskChange] = asyncio.Queue(maxsize=size)
        self.closed = asyncio.Event()

    def offer(self, change: DeskChange) -> bool:
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.closed.set()
            return False
        return True

    async def next(self, timeout_s: float) -> DeskChange | None:
        """The next change; None after ``timeout_s`` or once closed (check ``closed``)."""
        if self.closed.is_set():
            return None
        getting = asyncio.ensure_future(self.queue.get())
        closing = asyncio.ensure_future(self.closed.wait())
        done, pending = await asyncio.wait(
            {getting, closing}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        if getting in done:
            return getting.result()
        return None


class DeskFeed:
    def __init__(
        self, bootstrap_servers: str, alerts_topic: str, state_topic: str, clock: Clock,
        desk_timeout_s: float,
    ) -> None:  # fmt: skip
        self.board = DeskBoard()
        self.caught_up = asyncio.Event()
        self._servers = bootstrap_servers
        self._topics = {alerts_topic: "operator.alerts", state_topic: "dispatch.state"}
        self._clock = clock
        self._window_s = replay_window_s(desk_timeout_s)
        self._subscribers: set[Subscription] = set()
        self._stopping = asyncio.Event()

    def subscribe(self) -> Subscription:
        subscription = Subscription()
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("desk feed lost Kafka: %s; retrying", describe_failure(exc))
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        self._stopping.set()
        for subscription in list(self._subscribers):
            subscription.closed.set()  # streams end; consoles reconnect

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._servers,
            group_id=None,
            enable_auto_commit=False,
            client_id="nightline-api-desk",
        )
        await consumer.start()
        try:
            parts = await self._seek(consumer)
            ends = await consumer.end_offsets(parts) if parts else {}
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                for tp, records in batches.items():
                    for record in records:
                        self._apply(tp.topic, record.value)
                if not self.caught_up.is_set() and await _reached(consumer, ends):
                    self.caught_up.set()
                cutoff = self._clock.now() - timedelta(seconds=self._window_s)
                self.board.forget_closed_before(cutoff)
        finally:
            await consumer.stop()

    async def _seek(self, consumer: Any) -> list[TopicPartition]:
        parts: list[TopicPartition] = []
        for topic in self._topics:
            for _ in range(50):
                found = consumer.partitions_for_topic(topic)
                if found:
                    break
                await consumer._client.force_metadata_update()  # new topic: ask again
                await asyncio.sleep(0.2)
            parts += [TopicPartition(topic, p) for p in sorted(found or [])]
        consumer.assign(parts)
        since_ms = int((self._clock.now().timestamp() - self._window_s) * 1000)
        offsets = await consumer.offsets_for_times({tp: since_ms for tp in parts})
        for tp in parts:
            found_offset = offsets.get(tp)
            if found_offset is None:
                await consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, found_offset.offset)
        return parts

    def _apply(self, topic: str, value: bytes | None) -> None:
        name = self._topics[topic]
        try:
            event = decode(spec(name).adapter, value)
        except DecodeError:
            return  # the worker wrote it; a record another version wrote is skipped
        if isinstance(event, OperatorAlert):
            change = self.board.on_alert(event)
        elif isinstance(event, DispatchStateChanged):
            change = self.board.on_state(event)
        else:
            return
        if change is not None:
            for subscription in list(self._subscribers):
                if not subscription.offer(change):  # it stopped reading: end its stream
                    self._subscribers.discard(subscription)


async def _reached(consumer: Any, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True
