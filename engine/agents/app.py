"""``create_app(settings)``: the Faust app with its topics, agents, periodic
tasks and web pages. Nothing is created at import time.

Agents run with ``concurrency=1`` (faust-streaming issue 606: with more, the consumer
can commit an offset past a message still in flight); each runs many records at once
in its own lanes instead (:mod:`engine.agents.lanes`), acknowledging offsets only
behind finished records.
Periodic tasks run on every worker on purpose (``on_leader=False``): timer and
effect claims are atomic in Redis, so each worker scanning gives fail-over, not
duplicates. A periodic task retries transient failures until they pass (each
attempt bounded by ``handler_timeout_s``), so a Redis or Kafka outage pauses it
instead of crashing the app; anything else crashes the app, and the worker
exits non-zero (engine/worker.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import faust
from mode import Service

from engine.adapters.clocks import RedisOffsetClock
from engine.adapters.practice_cache import PracticeCache
from engine.agents.probes import ProgressSensor, register_pages
from engine.agents.streams import register_agents
from engine.bootstrap import Runtime, build_runtime
from engine.handlers.effect_scanner import scan_due_effects
from engine.handlers.timer_firing import fire_in_process
from engine.handlers.timers import Command, scan_due_timers
from engine.progress import Progress
from engine.schemas.catalogue import CATALOGUE
from engine.settings import Settings
from engine.transient import retry_transient

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_TIMER_SCAN = "timer_scan"
_EFFECT_SCAN = "effect_scan"
_AGENT_TOPICS = ("intake", "acks", "devices", "dispatch.commands")


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_servers}",
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        datadir=str(settings.state_dir / "worker" / settings.app_id),
        web_port=settings.web_port,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=0.5,
        # 5 ms: events of concurrent dispatches share produce requests (measured: the
        # broker's CPU per dispatch fell from 1.4 to 0.9 ms; no push waits for it)
        producer_linger=0.005,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_s / 3),
    )
    topics = {
        spec.name: app.topic(
            settings.topic(spec.name),
            key_type=bytes,
            value_type=bytes,
            partitions=spec.partitions or settings.topic_partitions,
        )
        for spec in CATALOGUE
    }
    runtime = build_runtime(settings, topics)
    progress = Progress(settings.stall_limit_s)
    for name in _AGENT_TOPICS:
        progress.watch_agent(settings.topic(name), name)
    app.sensors.add(ProgressSensor(progress))
    app.add_dependency(_PracticeFollower(runtime.practices))
    register_agents(app, topics, runtime.services, runtime.dead_letters, settings, progress)
    _register_periodic(app, runtime, settings, progress)
    register_pages(app, runtime, progress)
    return app


class _PracticeFollower(Service):
    """Follows the compacted practices topic from app start (an app task would start only
    after the first rebalance, and readiness waits for the cache), reconnecting after
    errors by itself; on shutdown its task is cancelled and the cache closes its consumer."""

    def __init__(self, cache: PracticeCache) -> None:
        super().__init__()
        self._cache = cache

    @Service.task
    async def _follow(self) -> None:
        await self._cache.run()


_Work = Callable[[], Awaitable[object]]


def _register_periodic(
    app: faust.App, runtime: Runtime, settings: Settings, progress: Progress
) -> None:
    svc = runtime.services

    async def until_done(part: str, work: _Work) -> None:
        """``work`` with transient failures retried until it succeeds."""
        await retry_transient(
            work,
            part=part,
            attempts=None,
            deadline_s=settings.handler_timeout_s,
            on_retry=svc.metrics.retries.labels(part).inc,
        )

    def every(interval_s: float, part: str, work: _Work) -> None:
        @app.timer(interval_s, on_leader=False, name=part)
        async def tick() -> None:
            await until_done(part, work)
            progress.task_completed(part)

    async def count_pending_timers() -> None:
        svc.metrics.pending_timers.set(await svc.timers.pending())

    progress.watch_task(_TIMER_SCAN)

    def fire(key: str, command: Command) -> Awaitable[None]:
        return fire_in_process(svc, key, command)

    every(settings.timer_scan_interval_s, _TIMER_SCAN, lambda: scan_due_timers(svc, fire=fire))
    progress.watch_task(_EFFECT_SCAN)
    every(settings.effect_scan_interval_s, _EFFECT_SCAN, lambda: scan_due_effects(svc))
    every(1.0, "gauges", count_pending_timers)

    stalled_before: set[str] = set()

    @app.timer(1.0, on_leader=False)
    async def report_stalls() -> None:
        """Stall gauges (0 or 1 per part); a count and one warning when a part stalls."""
        stalled = {stall.part: stall for stall in progress.stalls()}
        for part in progress.parts():
            svc.metrics.stalled.labels(part).set(1 if part in stalled else 0)
        for part in stalled.keys() - stalled_before:
            svc.metrics.stalls.labels(part).inc()
            log.warning("%s: no progress for %.0fs, /healthz fails", part, stalled[part].seconds)
        stalled_before.clear()
        stalled_before.update(stalled)

    if isinstance(runtime.clock, RedisOffsetClock):
        clock = runtime.clock
        every(0.05, "clock_sync", clock.sync)

        @app.task
        async def warm_up() -> None:
            await until_done("clock_sync", clock.sync)
