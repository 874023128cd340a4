"""Scenario "floor": what a bare aiokafka consume -> produce relay does on the same broker
with records the size of an intake event, the yardstick for the engine's rate.

The bench fills a topic (as many partitions as the deployment's), then one consumer
relays it to another topic twice: first ``unbatched`` records awaiting each send's
acknowledgement, then ``batched`` records sending a whole fetched batch without waiting
and awaiting its acknowledgements together. Each rate is records relayed per second,
from the first record fetched to the last acknowledgement.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from .load import call_message

__all__ = ["FloorOptions", "run_floor"]

_KEYS = [f"bench-floor-{n}" for n in range(16)]


@dataclass(frozen=True)
class FloorOptions:
    unbatched: int
    batched: int
    partitions: int
    timeout_s: float = 120.0


def _topics(servers: str, names: list[str], partitions: int, create: bool) -> None:
    admin = KafkaAdminClient(bootstrap_servers=servers)
    try:
        if create:
            admin.create_topics([NewTopic(n, partitions, 1) for n in names])
            admin.wait_for_topics(names)  # leaders elected: no first produce errors
        else:
            admin.delete_topics(names)
    finally:
        admin.close()


async def _fill(producer: AIOKafkaProducer, topic: str, value: bytes, count: int) -> None:
    acks = [
        await producer.send(topic, value=value, key=_KEYS[n % len(_KEYS)].encode())
        for n in range(count)
    ]
    await asyncio.gather(*acks)


async def _relay(
    consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, out: str, count: int,
    batched: bool, timeout_s: float,
) -> dict[str, Any]:  # fmt: skip
    relayed, started = 0, None
    deadline = time.monotonic() + timeout_s
    while relayed < count and time.monotonic() < deadline:
        fetched = await consumer.getmany(timeout_ms=200, max_records=min(1000, count - relayed))
        records = [r for batch in fetched.values() for r in batch]
        if records and started is None:
            started = time.monotonic()
        if batched:
            acks = [await producer.send(out, value=r.value, key=r.key) for r in records]
            await asyncio.gather(*acks)
        else:
            for r in records:
                await producer.send_and_wait(out, value=r.value, key=r.key)
        relayed += len(records)
    elapsed = time.monotonic() - started if started is not None else 0.0
    return {"records": relayed, "seconds": elapsed, "per_s": relayed / elapsed if elapsed else 0.0}


async def run_floor(servers: str, opts: FloorOptions) -> dict[str, Any]:
    prefix = f"nlbench-floor-{uuid.uuid4().hex[:8]}"
    source, sink = f"{prefix}.in", f"{prefix}.out"
    value = call_message("urgent", _KEYS[0])[1]  # a real intake event: same size and bytes
    await asyncio.to_thread(_topics, servers, [source, sink], opts.partitions, True)
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest",
    )  # fmt: skip
    try:
        await producer.start()
        await consumer.start()
        await _fill(producer, source, value, opts.unbatched + opts.batched)
        consumer.assign([TopicPartition(source, p) for p in range(opts.partitions)])
        await consumer.seek_to_beginning()
        unbatched = await _relay(consumer, producer, sink, opts.unbatched, False, opts.timeout_s)
        batched = await _relay(consumer, producer, sink, opts.batched, True, opts.timeout_s)
    finally:
        await consumer.stop()
        await producer.stop()
        await asyncio.to_thread(_topics, servers, [source, sink], opts.partitions, False)
    return {"message_bytes": len(value), "unbatched": unbatched, "batched": batched}
