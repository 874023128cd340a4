"""A worker handling many calls at once is SIGKILLed mid-burst, while Redis holds its
writes (so decisions are in flight for seconds): every intake record below the offset
its consumer group committed has its dispatch decided and committed in Redis (no offset
ran ahead of its decision), and after a restart every call is dispatched once and
paged."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from engine.handlers.intake import dispatch_id_for
from engine.ports import Device
from engine.settings import Settings
from tests.integration import scenario_data as data
from tests.integration.harness import Harness, wait_for

CALLS = 400
PAUSE_MS = 4000


def _committed(h: Harness, topic: str) -> dict[int, int]:
    admin = KafkaAdminClient(bootstrap_servers=h.settings.kafka_servers)
    try:
        offsets = admin.list_group_offsets({h.settings.app_id: None})[h.settings.app_id]
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def _event_ids_below(h: Harness, topic: str, committed: dict[int, int]) -> list[uuid.UUID]:
    """The event ids of the records below each partition's committed offset."""
    consumer = KafkaConsumer(bootstrap_servers=h.settings.kafka_servers, group_id=None)
    found: list[uuid.UUID] = []
    try:
        for partition, end in committed.items():
            if end <= 0:
                continue
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, 0)
            read = 0
            while read < end:
                for records in consumer.poll(timeout_ms=1000, max_records=500).values():
                    for record in records:
                        if record.offset < end:
                            found.append(uuid.UUID(json.loads(record.value)["event_id"]))
                        read = max(read, record.offset + 1)
    finally:
        consumer.close()
    return found


def test_no_offset_is_committed_ahead_of_its_decision(
    stack_settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "worker").mkdir()
    h = Harness(stack_settings, tmp_path / "worker", {"NIGHTLINE_AGENT_CONCURRENCY": "64"})
    try:
        h.load_practice(
            data.practice("p-off", timeout_s=600), [Device("dr-ash-phone", "dr-ash", "ios", "t")]
        )
        h.start_worker()
        events = [data.urgent_call("p-off") for _ in range(CALLS)]
        sender = threading.Thread(target=lambda: [h.producer.send_intake(e) for e in events])
        sender.start()  # the calls keep coming while the worker is killed
        topic = h.settings.topic("intake")
        wait_for(
            lambda: sum(_committed(h, topic).values()) >= CALLS // 4,
            60,
            "a quarter of the burst committed by the consumer",
            every=0.3,
        )
        # Writes stop: every decision in flight now waits for its commit, and the consumer
        # keeps committing offsets meanwhile (every 0.5 s) -- only of finished records.
        h.redis.client_pause(PAUSE_MS, all=False)
        time.sleep(PAUSE_MS / 1000 / 2)
        h.kill_worker()  # SIGKILL, mid-burst, decisions still waiting
        sender.join(timeout=60)
        committed = _committed(h, topic)
        below = _event_ids_below(h, topic, committed)
        assert below, "the consumer committed nothing before the kill"
        undecided = [e for e in below if not h.redis.exists(h.keys.dispatch(dispatch_id_for(e)))]
        assert undecided == [], f"{len(undecided)} records committed before their decision"

        h.start_worker()
        ids = [dispatch_id_for(e.event_id) for e in events]
        wait_for(lambda: {p["dispatch_id"] for p in h.pushes()} >= set(ids), 90, "every call paged")
        versions = [int(h.redis.hget(h.keys.dispatch(d), "version") or 0) for d in ids]
        assert versions == [1] * CALLS  # each decided once: no call dispatched twice
    finally:
        h.close()
