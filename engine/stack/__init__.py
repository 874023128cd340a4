"""The local stack: a real single-node Kafka (KRaft) and a real Redis, run as processes.

:func:`stack_up` starts whatever is not configured externally (``KAFKA_BOOTSTRAP_SERVERS``,
``REDIS_URL``), reuses processes that an earlier ``up`` of the same ``state_dir`` left
running and healthy, and waits until both answer. :func:`stack_down` stops only
processes recorded in this ``state_dir``; :func:`stack_status` reports without changing
anything (the fake APNs / FCM included when they run or the push gateway is
``local-fakes``). Stacks with different ``state_dir`` and ports are independent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from engine.settings import Settings
from engine.stack import _process
from engine.stack.kafka import (
    KafkaError,
    check_kafka,
    kafka_running_pid,
    start_kafka,
    stop_kafka,
    wait_kafka,
)
from engine.stack.redis_server import (
    RedisError,
    check_redis,
    redis_running_pid,
    start_redis,
    stop_redis,
    wait_redis,
)

__all__ = ["KafkaError", "RedisError", "StackInfo", "stack_down", "stack_status", "stack_up"]

State = Literal["external", "reused", "started"]


@dataclass(frozen=True)
class StackInfo:
    """What :func:`stack_up` ended with; pids are None for external services."""

    kafka_servers: str
    redis_url: str
    kafka_pid: int | None
    redis_pid: int | None
    kafka_state: State
    redis_state: State
    elapsed_s: float


def _lock(settings: Settings) -> Any:
    return _process.file_lock(settings.state_dir.resolve() / "stack.lock")


def stack_up(settings: Settings, timeout_s: float = 60.0) -> StackInfo:
    """Start (or reuse) the local services and wait until both are healthy.

    Raises :class:`KafkaError` / :class:`RedisError` with the log tail when a service
    does not become ready within ``timeout_s``; processes started by this call are
    stopped again in that case, reused ones are left alone.
    """
    began = time.monotonic()
    kafka_pid = redis_pid = None
    kafka_state: State = "external"
    redis_state: State = "external"
    with _lock(settings):
        try:
            if settings.local_kafka:  # spawn first: the JVM is the slow one
                kafka_pid, reused = start_kafka(settings)
                kafka_state = "reused" if reused else "started"
            if settings.local_redis:
                redis_pid, reused = start_redis(settings)
                redis_state = "reused" if reused else "started"
            wait_redis(settings, timeout_s)
            wait_kafka(settings, max(1.0, timeout_s - (time.monotonic() - began)))
        except BaseException:
            if kafka_state == "started":
                stop_kafka(settings)
            if redis_state == "started":
                stop_redis(settings)
            raise
    return StackInfo(
        kafka_servers=settings.kafka_servers,
        redis_url=settings.redis_dsn,
        kafka_pid=kafka_pid,
        redis_pid=redis_pid,
        kafka_state=kafka_state,
        redis_state=redis_state,
        elapsed_s=time.monotonic() - began,
    )


def stack_down(settings: Settings) -> dict[str, int | None]:
    """Stop the local services of this ``state_dir``: ``{"kafka": pid, "redis": pid}``.

    A pid is None when that service was not running (or is external, which is never
    stopped).
    """
    stopped: dict[str, int | None] = {"kafka": None, "redis": None}
    with _lock(settings):
        if settings.local_kafka:
            stopped["kafka"] = stop_kafka(settings)
        if settings.local_redis:
            stopped["redis"] = stop_redis(settings)
    return stopped


def stack_status(settings: Settings) -> dict[str, dict[str, Any]]:
    """Per service: address, mode (local/external), pid, healthy, error (None if healthy).

    The fake APNs and FCM are included when they run, or when the push gateway is
    ``local-fakes`` (whose pages need them)."""
    from engine.stack.push_fakes import push_fakes_report  # it imports this package

    result: dict[str, dict[str, Any]] = {}
    services = (
        ("kafka", settings.local_kafka, settings.kafka_servers, kafka_running_pid, check_kafka),
        ("redis", settings.local_redis, settings.redis_dsn, redis_running_pid, check_redis),
    )
    for name, local, address, running_pid, check in services:
        pid = running_pid(settings) if local else None
        error = "not running" if local and pid is None else check(address)
        result[name] = {
            "address": address,
            "mode": "local" if local else "external",
            "pid": pid,
            "healthy": error is None,
            "error": error,
        }
    result.update(push_fakes_report(settings))
    from engine.stack.api_process import api_report

    api = api_report(settings)
    if api is not None:
        result["api"] = api
    return result
