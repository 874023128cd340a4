"""Lanes: in order per key, concurrent across keys, bounded, and an offset acknowledged
only when its record and every earlier record of its partition are done."""

from __future__ import annotations

import asyncio

import pytest

from engine.agents.lanes import Lanes


class Consumer:
    """What the stream's ``ack`` sees: records in the order acknowledged."""

    def __init__(self) -> None:
        self.acked: list[str] = []

    async def ack(self, record: object) -> None:
        self.acked.append(str(record))


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_one_key_runs_in_order_and_other_keys_run_meanwhile() -> None:
    consumer = Consumer()
    lanes = Lanes(consumer.ack)
    gate = asyncio.Event()
    ran: list[str] = []

    def step(name: str, wait: bool = False):  # type: ignore[no-untyped-def]
        async def work() -> None:
            if wait:
                await gate.wait()
            ran.append(name)

        return work

    await lanes.submit("d-1", 0, 0, "d1-first", step("d1-first", wait=True))
    await lanes.submit("d-1", 0, 1, "d1-second", step("d1-second"))
    await lanes.submit("d-2", 0, 2, "d2", step("d2"))
    await _settle()
    assert ran == ["d2"]  # d-1's second record waits behind its first; d-2 did not wait
    assert consumer.acked == []  # offset 2 is done, but 0 and 1 are not
    gate.set()
    await lanes.drain()
    assert ran == ["d2", "d1-first", "d1-second"]
    assert consumer.acked == ["d1-first", "d1-second", "d2"]  # in offset order


async def test_partitions_are_acknowledged_independently() -> None:
    consumer = Consumer()
    lanes = Lanes(consumer.ack)
    gate = asyncio.Event()

    async def slow() -> None:
        await gate.wait()

    async def fast() -> None:
        return None

    await lanes.submit("a", 0, 10, "p0-10", slow)
    await lanes.submit("b", 1, 10, "p1-10", fast)
    await _settle()
    assert consumer.acked == ["p1-10"]
    gate.set()
    await lanes.drain()
    assert consumer.acked == ["p1-10", "p0-10"]


async def test_a_failed_record_is_never_acknowledged_nor_anything_after_it() -> None:
    consumer = Consumer()
    lanes = Lanes(consumer.ack)

    async def broken() -> None:
        raise RuntimeError("bug")

    async def fine() -> None:
        return None

    await lanes.submit("a", 0, 0, "ok-0", fine)
    await lanes.submit("b", 0, 1, "broken-1", broken)
    await lanes.submit("c", 0, 2, "ok-2", fine)
    with pytest.raises(RuntimeError):
        await lanes.drain()
    assert consumer.acked == ["ok-0"]  # offset 2 waits behind 1 forever: redelivered
    with pytest.raises(RuntimeError):
        await lanes.submit("d", 0, 3, "ok-3", fine)  # the agent stops; the worker restarts


async def test_a_record_cancelled_by_a_stop_is_not_acknowledged() -> None:
    consumer = Consumer()
    lanes = Lanes(consumer.ack)
    started = asyncio.Event()

    async def long() -> None:
        started.set()
        await asyncio.sleep(3600)

    await lanes.submit("a", 0, 0, "long-0", long)
    await started.wait()
    lanes.cancel()
    await _settle()
    assert consumer.acked == []
    assert lanes.unacknowledged() == 1


async def test_no_more_than_the_limit_run_at_once() -> None:
    consumer = Consumer()
    lanes = Lanes(consumer.ack, limit=3)
    gate = asyncio.Event()
    peak = 0
    running = 0

    async def work() -> None:
        nonlocal peak, running
        running += 1
        peak = max(peak, running)
        await gate.wait()
        running -= 1

    async def submit_all() -> None:
        for i in range(10):
            await lanes.submit(f"k{i}", 0, i, f"r{i}", work)

    feeder = asyncio.ensure_future(submit_all())
    await _settle()
    assert lanes.in_flight() == 3 and not feeder.done()  # the reader waits for room
    gate.set()
    await feeder
    await lanes.drain()
    assert peak == 3
    assert consumer.acked == [f"r{i}" for i in range(10)]
