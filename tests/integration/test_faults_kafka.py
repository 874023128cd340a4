"""The Kafka broker restarted under load (issue 8): the worker recovers by itself,
every call is dispatched, paged and escalated to the end, no transition is committed
twice, and the outage costs a few rate-limited log lines, not thousands.

Kafka is the test's own single-node KRaft broker, stopped and started again on the
same ports and data directory; Redis is the shared test stack."""

from __future__ import annotations

import time
from pathlib import Path

from engine.settings import Settings
from engine.stack.kafka import start_kafka, stop_kafka, wait_kafka
from tests.integration.faults import private_kafka
from tests.integration.harness import Harness
from tests.integration.load import (
    assert_every_call_dispatched_once_and_escalated,
    load_two_level_practice,
    publish_through_an_outage,
)

OUTAGE_S = 5.0
MAX_ERROR_LINES = 200


def test_a_kafka_restart_under_load_loses_nothing_and_logs_little(
    stack_settings: Settings, tmp_path: Path
) -> None:
    with private_kafka(tmp_path / "kafka") as kafka_settings:
        base = stack_settings.model_copy(
            update={"kafka_bootstrap_servers": kafka_settings.kafka_servers}
        )
        (tmp_path / "worker").mkdir()
        h = Harness(base, tmp_path / "worker")
        try:
            load_two_level_practice(h)
            h.start_worker()
            assert h.process is not None
            worker_pid = h.process.pid

            def restart_kafka() -> None:
                stop_kafka(kafka_settings)
                time.sleep(OUTAGE_S)
                start_kafka(kafka_settings)
                wait_kafka(kafka_settings, timeout_s=120)

            ids, outage = publish_through_an_outage(
                h,
                rate_per_s=20,
                duration_s=10,
                outage_at_s=4,
                outage=restart_kafka,
                send_timeout_s=120,  # the test's producer waits out the outage too
            )
            outage.join(timeout=180)
            assert not outage.is_alive()
            assert_every_call_dispatched_once_and_escalated(h, ids)
            assert h.process.poll() is None and h.process.pid == worker_pid  # never restarted
            log = h.log_text()
            assert "Crashed" not in log
            errors = [line for line in log.splitlines() if "[ERROR]" in line]
            assert len(errors) < MAX_ERROR_LINES, "\n".join(errors[:50])
        finally:
            h.close()
