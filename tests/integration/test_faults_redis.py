"""Redis restarted under load (issue 8): the worker recovers by itself, every call is
dispatched, paged and escalated to the end, and no transition is committed twice.

Redis is the test's own (AOF on, as the stack runs it), stopped and started again on
the same port and data directory; Kafka is the shared test stack."""

from __future__ import annotations

import time
from pathlib import Path

from engine.settings import Settings
from engine.stack.redis_server import start_redis, stop_redis, wait_redis
from tests.integration.faults import private_redis
from tests.integration.harness import Harness
from tests.integration.load import (
    assert_every_call_dispatched_once_and_escalated,
    load_two_level_practice,
    publish_through_an_outage,
)

OUTAGE_S = 3.0


def test_a_redis_restart_under_load_loses_nothing_and_does_nothing_twice(
    stack_settings: Settings, tmp_path: Path
) -> None:
    with private_redis(tmp_path / "redis") as redis_settings:
        base = stack_settings.model_copy(update={"redis_url": redis_settings.redis_dsn})
        (tmp_path / "worker").mkdir()
        h = Harness(base, tmp_path / "worker")
        try:
            load_two_level_practice(h)
            h.start_worker()
            assert h.process is not None
            worker_pid = h.process.pid

            def restart_redis() -> None:
                stop_redis(redis_settings)
                time.sleep(OUTAGE_S)
                start_redis(redis_settings)
                wait_redis(redis_settings)
                h.redis.connection_pool.disconnect()  # the test's own client reconnects

            ids, outage = publish_through_an_outage(
                h, rate_per_s=20, duration_s=10, outage_at_s=4, outage=restart_redis
            )
            outage.join(timeout=60)
            assert not outage.is_alive()
            assert_every_call_dispatched_once_and_escalated(h, ids)
            assert h.process.poll() is None and h.process.pid == worker_pid  # never restarted
            assert "Crashed" not in h.log_text()
        finally:
            h.close()
