"""The worker's web pages (``/metrics``, ``/healthz``, ``/readyz``) and the Faust sensor
that feeds :class:`engine.progress.Progress` from the consumer.

``/healthz`` is liveness: 200 while every agent and the timer scan make progress,
503 with the stalled parts otherwise (restarting the pod is the cure). It does not
call Redis or Kafka: an outage of either is not fixed by a restart, and shows on
``/readyz``. ``/readyz`` is 200 once the worker consumes: the agents have their
partitions and their streams run, the practice cache has read the practices topic
to the end offsets it found at start, and Redis answers a PING. Bodies name parts
and checks only, never ids.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict
from typing import Any

import faust
from prometheus_client import generate_latest

from engine.bootstrap import Runtime
from engine.progress import Progress

__all__ = ["ProgressSensor", "register_pages"]

_PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"  # the text format generate_latest writes
_PING_DEADLINE_S = 2.0  # under the chart's probe timeout


class ProgressSensor(faust.Sensor):
    """Tells :class:`Progress` what the consumer delivers and when rebalances start and end."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self._progress = progress

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self._progress.delivered(tp.topic, tp.partition, offset)

    def on_rebalance_start(self, app: Any) -> dict[str, Any]:
        self._progress.rebalance_started()
        return super().on_rebalance_start(app)

    def on_rebalance_end(self, app: Any, state: dict[str, Any]) -> None:
        self._progress.rebalance_finished()


def register_pages(app: faust.App, runtime: Runtime, progress: Progress) -> None:
    registry = runtime.services.metrics.registry

    @app.page("/metrics")
    async def metrics(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        # aiohttp refuses a charset inside content_type; the exposition format is UTF-8 anyway
        return web.bytes(generate_latest(registry), content_type=_PROMETHEUS_CONTENT_TYPE)

    @app.page("/healthz")
    async def healthz(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        stalls = progress.stalls()
        body = {"status": "stalled" if stalls else "ok", "stalled": [asdict(s) for s in stalls]}
        return web.json(body, status=503 if stalls else 200)

    @app.page("/readyz")
    async def readyz(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        checks = {
            "consuming": progress.consuming,
            "practices_loaded": runtime.practices.caught_up.is_set(),
            "redis": await _redis_answers(runtime),
        }
        ready = all(checks.values())
        body = {"status": "ready" if ready else "not_ready", **checks}
        return web.json(body, status=200 if ready else 503)


async def _redis_answers(runtime: Runtime) -> bool:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_PING_DEADLINE_S):
            return bool(await runtime.redis.ping())
    return False
