"""Read a Kafka topic from an instant to its current end, for tools (``nightline
verify``): every partition, no consumer group, nothing committed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import KafkaConsumer, TopicPartition

__all__ = ["RawRecord", "partition_ids", "read_since", "stream_since"]


@dataclass(frozen=True)
class RawRecord:
    partition: int
    offset: int
    at: datetime
    value: bytes | None


def partition_ids(servers: str, topic: str) -> list[int]:
    """The topic's partitions (none if it does not exist)."""
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False)
    try:
        return sorted(consumer.partitions_for_topic(topic) or [])
    finally:
        consumer.close()


def read_since(
    servers: str, topic: str, since: datetime, timeout_s: float = 30.0
) -> list[RawRecord]:
    """Every record of ``topic`` written at or after ``since``, up to the end offsets
    seen when the read starts (so a busy topic cannot keep the read going forever)."""
    return list(stream_since(servers, topic, since, timeout_s))


def stream_since(
    servers: str, topic: str, since: datetime, stall_s: float = 30.0
) -> Iterator[RawRecord]:
    """The same records, one at a time and in offset order within each partition, so a
    long topic is never held in memory. Fails if no record arrives for ``stall_s``."""
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False)
    try:
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        if not parts:
            return
        consumer.assign(parts)
        starts = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in parts})
        ends = consumer.end_offsets(parts)
        for tp in parts:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])
        deadline = time.monotonic() + stall_s
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}: nothing arrived for {stall_s:g} s")
            for tp, batch in consumer.poll(timeout_ms=200, max_records=5000).items():
                deadline = time.monotonic() + stall_s
                for r in batch:
                    if r.offset < ends[tp]:
                        at = datetime.fromtimestamp(r.timestamp / 1000, UTC)
                        yield RawRecord(tp.partition, r.offset, at, r.value)
    finally:
        consumer.close()
