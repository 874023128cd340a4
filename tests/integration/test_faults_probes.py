"""Probes that tell the truth: /readyz only while the worker has its partitions and
consumes, /healthz 503 naming a stalled agent, and a crashed worker that exits."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest

from engine.handlers.intake import dispatch_id_for
from engine.settings import Settings
from tests.integration import scenario_data as data
from tests.integration.faults import ExtraWorker, probe, silent_server
from tests.integration.harness import Harness, wait_for

LONG_SESSION = {"NIGHTLINE_KAFKA_SESSION_TIMEOUT_S": "60"}  # a frozen member holds rebalances


@pytest.fixture()
def workers(own_harness: Harness) -> Iterator[list[ExtraWorker]]:
    started: list[ExtraWorker] = []
    yield started
    for worker in started:
        worker.stop()


def test_readyz_is_false_while_partitions_are_reassigned_and_true_after(
    own_harness: Harness, workers: list[ExtraWorker]
) -> None:
    h = own_harness
    h.extra_env.update(LONG_SESSION)
    h.start_worker()  # waits for /readyz: 200
    assert probe(h.settings.web_port, "/readyz") == (
        200,
        {"status": "ready", "consuming": True, "practices_loaded": True, "redis": True},
    )
    second = ExtraWorker(h, "second")
    workers.append(second)
    wait_for(lambda: second.readyz()[0] == 200, 60, "the second worker's /readyz")
    second.signal(signal.SIGSTOP)  # still in the group: a rebalance now waits for it
    third = ExtraWorker(h, "third")
    workers.append(third)

    def first_reassigning() -> bool:
        status, body = probe(h.settings.web_port, "/readyz")
        return status == 503 and body["consuming"] is False

    wait_for(first_reassigning, 60, "the first worker to give up its partitions")
    for _ in range(5):  # and it stays so while the frozen member holds the rebalance
        assert first_reassigning()
        assert third.readyz()[0] != 200
    second.signal(signal.SIGCONT)
    for port in (h.settings.web_port, second.port, third.port):
        wait_for(lambda p=port: probe(p, "/readyz")[0] == 200, 60, f"/readyz on {port}")


@pytest.fixture()
def stuck_worker(stack_settings: Settings, tmp_path: Path) -> Iterator[tuple[Harness, int]]:
    """A worker whose Redis accepts connections and never answers, with no timeout to
    end the wait, and a 3 s stall limit: the harness and the worker's web port."""
    with silent_server() as port:
        base = stack_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
        h = Harness(
            base,
            tmp_path,
            extra_env={
                "NIGHTLINE_CLOCK": "system",
                "NIGHTLINE_STALL_LIMIT_S": "3",
                "NIGHTLINE_REDIS_SOCKET_TIMEOUT_S": "600",
                "NIGHTLINE_HANDLER_TIMEOUT_S": "600",
            },
        )
        worker = ExtraWorker(h, "stuck")  # not start_worker: it would wait for /readyz
        yield h, worker.port
        worker.stop(graceful=False)  # a graceful stop would wait for the stuck event
        h.close()


def test_healthz_names_an_agent_stuck_on_a_silent_redis(
    stuck_worker: tuple[Harness, int],
) -> None:
    h, port = stuck_worker

    def stalled_parts() -> set[str]:
        status, body = probe(port, "/healthz")
        return {s["part"] for s in body.get("stalled", [])} if status == 503 else set()

    # The scans cannot complete from the start; no agent has had work yet.
    scans = {"timer_scan", "effect_scan"}
    assert wait_for(lambda: stalled_parts() == scans, 60, "/healthz to report the scans")
    status, ready = probe(port, "/readyz")
    assert status == 503 and ready["redis"] is False
    event = data.urgent_call("p-silent")
    h.producer.send_intake(event)  # its handler waits on Redis for ever (no timeout here)
    wait_for(lambda: "intake" in stalled_parts(), 60, "/healthz to report the intake agent")
    status, body = probe(port, "/healthz")
    assert status == 503 and body["status"] == "stalled"
    intake = next(s for s in body["stalled"] if s["part"] == "intake")
    assert intake["kind"] == "agent" and intake["seconds"] >= 3
    text = str(body)
    for identifier in (str(event.event_id), dispatch_id_for(event.event_id), "p-silent"):
        assert identifier not in text
    metrics = wait_for(lambda: _stall_metrics(port, "intake"), 30, "the intake stall gauge")
    assert 'nightline_stalls_total{part="intake"} 1.0' in metrics


def _stall_metrics(port: int, part: str) -> list[str]:
    """The stall metric lines of ``part`` once its gauge reads 1, else nothing."""
    with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    found = [line for line in lines if line.startswith("nightline_stall") and f'"{part}"' in line]
    return found if f'nightline_stalled{{part="{part}"}} 1.0' in found else []


def test_a_worker_whose_app_crashes_exits_non_zero(own_harness: Harness) -> None:
    h = own_harness
    h.start_worker()
    assert h.process is not None
    h.redis.set(h.keys.timers, "not a sorted set")  # the timer scan's claim: WRONGTYPE
    process = h.process
    try:
        wait_for(lambda: process.poll() is not None, 90, "the worker to exit")
    finally:
        h.redis.delete(h.keys.timers)
    h.process = None
    assert process.returncode in (1, os.EX_SOFTWARE)  # mode re-raises; the watchdog
    log = h.log_text()
    assert "Crashed reason=server:ResponseError" in log and "WRONGTYPE" in log
