"""A crashed worker always ends its process (engine/worker.py); the integration test
tests/integration/test_faults_probes.py crashes a real one."""

from __future__ import annotations

import os
import threading

from engine.worker import exit_later


def test_exit_later_exits_with_the_status_even_while_the_loop_is_stuck() -> None:
    exited: list[int] = []
    done = threading.Event()

    def fake_exit(status: int) -> None:
        exited.append(status)
        done.set()

    timer = exit_later(0.01, exit=fake_exit)  # no event loop runs here at all
    assert done.wait(timeout=10)
    assert exited == [os.EX_SOFTWARE]
    assert timer.daemon  # never keeps a finished process alive


def test_exit_later_waits_its_grace_period() -> None:
    exited: list[int] = []
    timer = exit_later(60.0, status=3, exit=exited.append)
    try:
        assert timer.is_alive() and exited == []
    finally:
        timer.cancel()
