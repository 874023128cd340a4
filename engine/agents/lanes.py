"""Many events at once, in order per key, and offsets acknowledged only behind them.

A stream agent reads records one after another and hands each to :class:`Lanes` with
a *lane key* (the dispatch, the event id, the clinician). Records of one key run one
after another, in the order read; records of different keys run concurrently, up to
``limit`` at once (the reader waits for room: back-pressure, not an unbounded queue).

Offsets: each record is acknowledged to the consumer only when it and every record
read before it from the same partition are done, so the offset the consumer commits
never passes a record whose decision is not yet committed, whatever order the lanes
finish in (faust-streaming issue 606 is about the opposite). A record that never
finishes (the worker crashed or stopped) is never acknowledged, nor is any record after
it in its partition: after a restart they are redelivered, and the handlers' version
checks and event ids make the repeat harmless.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Lanes", "PartitionAcks"]

Ack = Callable[[Any], Awaitable[object]]


@dataclass
class _InFlight:
    offset: int
    record: Any
    done: bool = False


@dataclass
class PartitionAcks:
    """Records of each partition in the order read; acknowledges the done prefix."""

    ack: Ack
    _queues: dict[Hashable, deque[_InFlight]] = field(default_factory=dict)

    def read(self, partition: Hashable, offset: int, record: Any) -> _InFlight:
        entry = _InFlight(offset, record)
        self._queues.setdefault(partition, deque()).append(entry)
        return entry

    async def finished(self, partition: Hashable, entry: _InFlight) -> None:
        entry.done = True
        queue = self._queues[partition]
        while queue and queue[0].done:
            await self.ack(queue.popleft().record)

    def waiting(self) -> int:
        """Records read but not acknowledged yet."""
        return sum(len(q) for q in self._queues.values())


class Lanes:
    """Run ``work`` per record: in order per lane key, concurrently across keys."""

    def __init__(self, ack: Ack, limit: int = 256) -> None:
        self._acks = PartitionAcks(ack)
        self._room = asyncio.Semaphore(limit)
        self._tails: dict[Hashable, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    async def submit(
        self,
        key: Hashable,
        partition: Hashable,
        offset: int,
        record: Any,
        work: Callable[[], Awaitable[object]],
    ) -> None:
        """Start ``work`` for ``record`` behind the lane's earlier records (waits while
        ``limit`` records are in flight). Raises what a record's work raised."""
        self._raise_failure()
        await self._room.acquire()
        entry = self._acks.read(partition, offset, record)
        before = self._tails.get(key)
        task = asyncio.ensure_future(self._run(key, before, partition, entry, work))
        self._tails[key] = task
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(
        self,
        key: Hashable,
        before: asyncio.Task[None] | None,
        partition: Hashable,
        entry: _InFlight,
        work: Callable[[], Awaitable[object]],
    ) -> None:
        try:
            if before is not None:
                await asyncio.wait({before})  # its outcome is its own; order is ours
            await work()
            await self._acks.finished(partition, entry)
        except asyncio.CancelledError:  # the worker stops: never acknowledged
            raise
        except BaseException as exc:  # never acknowledged: redelivered after a restart
            if self._failure is None:
                self._failure = exc
        finally:
            self._room.release()
            if self._tails.get(key) is asyncio.current_task():
                del self._tails[key]

    async def drain(self) -> None:
        """Wait for every record in flight; raise what one raised."""
        while self._running:
            await asyncio.wait(set(self._running))
        self._raise_failure()

    def cancel(self) -> None:
        """Stop every record in flight (none of them is acknowledged)."""
        for task in list(self._running):
            task.cancel()

    def in_flight(self) -> int:
        return len(self._running)

    def unacknowledged(self) -> int:
        return self._acks.waiting()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
