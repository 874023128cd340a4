"""``create_app(settings)``: the Faust app with its topics, agents, periodic
tasks and web pages. Nothing is created at import time.

Agents run with ``concurrency=1``: faust-streaming issue 606 shows that with
more, the consumer can commit an offset past a message still in flight.
Periodic tasks run on every worker on purpose (``on_leader=False``): timer
claims are atomic in Redis, so each worker scanning gives fail-over, not
duplicates.
"""

from __future__ import annotations

import faust
from prometheus_client import generate_latest

from engine.adapters.clocks import RedisOffsetClock
from engine.agents.streams import register_agents
from engine.bootstrap import Runtime, build_runtime
from engine.handlers.timers import scan_due_timers
from engine.schemas.catalogue import CATALOGUE
from engine.settings import Settings

__all__ = ["create_app"]

_PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"  # the text format generate_latest writes


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
        producer_linger=0.0,
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
    register_agents(app, topics, runtime.services, runtime.dead_letters, settings)
    _register_periodic(app, runtime, settings)
    _register_pages(app, runtime)
    return app


def _register_periodic(app: faust.App, runtime: Runtime, settings: Settings) -> None:
    svc = runtime.services

    @app.timer(settings.timer_scan_interval_s, on_leader=False)
    async def scan_deadlines() -> None:
        await scan_due_timers(svc)

    @app.timer(1.0, on_leader=False)
    async def update_gauges() -> None:
        svc.metrics.pending_timers.set(await svc.timers.pending())

    @app.task
    async def follow_practices() -> None:
        # Follows the compacted practices topic; on shutdown Faust cancels this task
        # and the cache closes its consumer.
        await runtime.practices.run()

    if isinstance(runtime.clock, RedisOffsetClock):
        clock = runtime.clock

        @app.timer(0.05, on_leader=False)
        async def sync_clock() -> None:
            await clock.sync()

        @app.task
        async def warm_up() -> None:
            await clock.sync()


def _register_pages(app: faust.App, runtime: Runtime) -> None:
    registry = runtime.services.metrics.registry

    @app.page("/metrics")
    async def metrics(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        # aiohttp refuses a charset inside content_type; the exposition format is UTF-8 anyway
        return web.bytes(generate_latest(registry), content_type=_PROMETHEUS_CONTENT_TYPE)

    @app.page("/healthz")
    async def healthz(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        redis_ok = bool(await runtime.redis.ping())
        return web.json(
            {"status": "ok" if redis_ok else "degraded", "redis": redis_ok},
            status=200 if redis_ok else 503,
        )
