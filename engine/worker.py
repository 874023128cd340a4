"""Start a Faust worker for the app, after making sure the topics exist.

The worker rate-limits repeated log lines (engine/log_limits.py) and never
outlives a crash: when the app crashes (an error that is not transient escaped a
task or an agent), mode stops the worker and re-raises the crash, so the process
exits with status 1 and a supervisor (Kubernetes) restarts it. Should that stop
hang, the process exits with status 70 (EX_SOFTWARE) after ``CRASH_EXIT_GRACE_S``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import faust
from mode import Service

from engine.agents.app import create_app
from engine.log_limits import RepeatFilter, install_repeat_filter
from engine.producer import ensure_topics
from engine.settings import Settings

__all__ = ["CRASH_EXIT_GRACE_S", "NightlineWorker", "exit_later", "run_worker"]

CRASH_EXIT_GRACE_S = 20.0

log = logging.getLogger(__name__)


def exit_later(
    seconds: float, status: int = os.EX_SOFTWARE, exit: Callable[[int], Any] = os._exit
) -> threading.Timer:
    """Exit the process with ``status`` in ``seconds``, whatever the event loop is doing."""

    def now() -> None:
        log.critical("the worker crashed and did not stop within %.0fs; exiting", seconds)
        sys.stdout.flush()
        sys.stderr.flush()
        exit(status)

    timer = threading.Timer(seconds, now)
    timer.daemon = True
    timer.start()
    return timer


class NightlineWorker(faust.Worker):
    """faust's worker with repeated log lines limited and a crash that ends the process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._repeat_filters: list[RepeatFilter] = []
        super().__init__(*args, **kwargs)

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        self._repeat_filters = [install_repeat_filter(h) for h in logger.handlers]

    @Service.timer(1.0)
    async def _summarise_repeated_logs(self) -> None:
        for repeat_filter in self._repeat_filters:
            repeat_filter.flush()

    @Service.task
    async def _exit_after_crash(self) -> None:
        await self.wait_until_stopped()
        if self.crashed:
            exit_later(CRASH_EXIT_GRACE_S)


def run_worker(settings: Settings, ensure: bool = True) -> None:
    if ensure:
        ensure_topics(
            settings.kafka_servers,
            settings.topic_prefix,
            settings.topic_partitions,
            settings.topic_replication,
        )
    (settings.state_dir / "worker").mkdir(parents=True, exist_ok=True)
    if settings.event_loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(settings)
    worker = NightlineWorker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
