"""Read a Kafka topic from an instant to its current end, for tools (``nightline
verify``): every partition, no consumer group, nothing committed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import KafkaConsumer, TopicPartition

__all__ = ["RawRecord", "read_since"]


@dataclass(frozen=True)
class RawRecord:
    partition: int
    offset: int
    at: datetime
    value: bytes | None


def read_since(
    servers: str, topic: str, since: datetime, timeout_s: float = 30.0
) -> list[RawRecord]:
    """Every record of ``topic`` written at or after ``since``, up to the end offsets
    seen when the read starts (so a busy topic cannot keep the read going forever)."""
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False)
    try:
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        if not parts:
            return []
        consumer.assign(parts)
        starts = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in parts})
        ends = consumer.end_offsets(parts)
        for tp in parts:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])
        records: list[RawRecord] = []
        deadline = datetime.now(UTC).timestamp() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            if datetime.now(UTC).timestamp() > deadline:
                raise TimeoutError(f"reading {topic} did not reach its end in {timeout_s:g} s")
            for tp, batch in consumer.poll(timeout_ms=200, max_records=5000).items():
                records += [
                    RawRecord(
                        tp.partition,
                        r.offset,
                        datetime.fromtimestamp(r.timestamp / 1000, UTC),
                        r.value,
                    )
                    for r in batch
                    if r.offset < ends[tp]
                ]
        return records
    finally:
        consumer.close()
