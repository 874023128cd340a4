"""The stream agents: intake, acknowledgements, device changes and dispatch commands.

Each one decodes raw bytes with the codec, calls a handler, and turns bad
input into a dead letter; the worker keeps running. Records run concurrently in
:class:`~engine.agents.lanes.Lanes`: in order per dispatch (or event, held message,
device), many dispatches at once, and each offset is acknowledged only when its record
and every earlier record of its partition are done. Every intake dead letter
(undecodable, unknown practice, a reused event id, a handler failure) also starts a
desk-only dispatch (:mod:`engine.handlers.desk_alerts`), so a human is alerted and
re-alerted until an operator claims it; errors from Redis or Kafka are retried before
that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import faust

from engine.adapters.dead_letters import DeadLetterWriter
from engine.agents.lanes import Lanes
from engine.failures import describe_failure
from engine.handlers.commands import handle_ack, handle_command
from engine.handlers.desk_alerts import (
    alert_desk_for_rejected,
    rejected_dispatch_input,
    rejected_intake,
)
from engine.handlers.devices import apply_device_change
from engine.handlers.intake import IntakeConflictError, UnknownPracticeError, handle_intake
from engine.handlers.services import Services
from engine.metrics import Metrics
from engine.progress import Progress
from engine.schemas.catalogue import spec
from engine.schemas.codec import DecodeError, decode
from engine.schemas.devices import DeviceRegistration
from engine.settings import Settings
from engine.transient import retry_transient

__all__ = ["register_agents"]

log = logging.getLogger(__name__)


def register_agents(
    app: faust.App,
    topics: Mapping[str, Any],
    svc: Services,
    dead_letters: DeadLetterWriter,
    settings: Settings,
    progress: Progress,
) -> None:
    async def consume(
        name: str,
        stream: Any,
        handle: Callable[[Any], Awaitable[object]],
        max_bytes: int | None = None,
    ) -> None:
        adapter = spec(name).adapter
        lanes = Lanes(stream.ack, settings.agent_concurrency)
        try:
            async for event in stream.noack().events():
                message = event.message
                try:
                    value: Any = decode(adapter, message.value, max_bytes)
                except DecodeError as exc:
                    value = exc
                work = _work(name, message, value, handle)
                lane = _lane(value, message)
                await lanes.submit(lane, message.partition, message.offset, event, work)
            await lanes.drain()
        finally:
            lanes.cancel()  # stopping: what is not done is not acknowledged (redelivered)

    def _work(
        name: str, message: Any, value: Any, handle: Callable[[Any], Awaitable[object]]
    ) -> Callable[[], Awaitable[None]]:
        async def work() -> None:
            with progress.handling(message.topic, message.partition, message.offset):
                await _process(name, message, value, handle)

        return work

    async def _process(
        name: str,
        message: Any,
        value: Any,
        handle: Callable[[Any], Awaitable[object]],
    ) -> None:
        if isinstance(value, DecodeError):
            svc.metrics.events.labels(name, "invalid", value.code).inc()
            await _reject(name, message, value.code, value.reason, "intake rejected")
            return
        kind = str(getattr(value, "kind", None) or getattr(value, "type", type(value).__name__))
        try:
            outcome = await _with_retries(
                lambda: handle(value), name, settings.handler_timeout_s, svc.metrics
            )
        except UnknownPracticeError:
            svc.metrics.events.labels(name, kind, "unknown_practice").inc()
            await _reject(name, message, "unknown_practice", "practice_id: not served here",
                          "unknown practice", value)  # fmt: skip
            return
        except IntakeConflictError:
            svc.metrics.events.labels(name, kind, "event_id_conflict").inc()
            await _reject(name, message, "event_id_conflict",
                          "event_id: already used by a different message", "event id conflict",
                          value)  # fmt: skip
            return
        except Exception as exc:  # a bug must not stop the worker or lose the message
            event_id = getattr(value, "event_id", "?")
            log.error("handler failed on %s event %s: %s", name, event_id, describe_failure(exc))
            svc.metrics.events.labels(name, kind, "error").inc()
            await _reject(name, message, "handler_error", f"{type(exc).__name__} in handler",
                          "engine error", value)  # fmt: skip
            return
        svc.metrics.events.labels(name, kind, _outcome_label(outcome)).inc()

    async def _reject(
        name: str,
        message: Any,
        code: str,
        reason: str,
        desk_reason: str,
        value: Any = None,
    ) -> None:
        """Dead-letter the record; intake first reaches the operator desk (never dropped):
        the alert is small and goes first, so a dead letter that cannot be written does
        not keep a human from being told. A failure of either is raised after both were
        tried (the worker restarts and the record is redelivered)."""
        svc.metrics.dead_letters.labels(name, code).inc()
        partition, offset = message.partition, message.offset
        failure: Exception | None = None
        concerns = getattr(value, "dispatch_id", None) if code == "handler_error" else None
        if name == "intake" or concerns is not None:
            if name == "intake":
                rejected = await rejected_intake(svc, value, message.value, desk_reason, code)
            else:  # an acknowledgement or a firing of this dispatch failed: tell the desk
                rejected = await rejected_dispatch_input(svc, str(concerns), desk_reason, code)
            written = getattr(message, "timestamp", None)
            alert = replace(
                rejected,
                topic=settings.topic(name),
                partition=partition,
                offset=offset,
                written_ms=None if written is None else int(written * 1000),
            )
            try:
                await _with_retries(
                    lambda: alert_desk_for_rejected(svc, alert),
                    name,
                    settings.handler_timeout_s,
                    svc.metrics,
                )
            except Exception as exc:
                log.error("desk alert for %s@%s failed: %s", name, offset, describe_failure(exc))
                failure = exc
        await _with_retries(
            lambda: dead_letters.write(
                settings.topic(name), message.value, code, reason, partition, offset
            ),
            name,
            settings.handler_timeout_s,
            svc.metrics,
        )
        if failure is not None:
            raise failure

    @app.agent(topics["intake"], concurrency=1)
    async def intake(stream: Any) -> None:
        await consume("intake", stream, lambda e: handle_intake(svc, e), settings.max_event_bytes)

    @app.agent(topics["acks"], concurrency=1)
    async def acks(stream: Any) -> None:
        await consume("acks", stream, lambda e: handle_ack(svc, e), settings.max_event_bytes)

    @app.agent(topics["devices"], concurrency=1)
    async def devices(stream: Any) -> None:
        await consume("devices", stream, handle_device_change, settings.max_event_bytes)

    async def handle_device_change(change: DeviceRegistration) -> str:
        if svc.device_registry is None:
            raise RuntimeError("this worker has no device registry")
        return await apply_device_change(svc.device_registry, change)

    @app.agent(topics["dispatch.commands"], concurrency=1)
    async def commands(stream: Any) -> None:
        await consume("dispatch.commands", stream, lambda e: handle_command(svc, e))


def _lane(value: Any, message: Any) -> tuple[str, str]:
    """Records of one dispatch (or held message, device, intake event) share a lane and
    run in order; a record that could not be decoded runs in a lane of its own."""
    for name in ("dispatch_id", "held_id", "device_id", "event_id"):
        found = getattr(value, name, None)
        if found is not None:
            return (name, str(found))
    return ("record", f"{message.partition}:{message.offset}")


class HandlerTimeout(RuntimeError):
    """A handler ran out of its deadline again and again: a bug more than an outage."""


async def _with_retries(
    call: Callable[[], Awaitable[object]],
    agent: str,
    deadline_s: float,
    metrics: Metrics,
    timeouts_allowed: int = 3,
) -> object:
    """The handler call, retried until it succeeds while the failure is transient (Redis
    or Kafka away: the event waits, it is never dropped or dead-lettered for an outage;
    ``/healthz`` reports the stall). A call that keeps running out of its deadline is
    a :class:`HandlerTimeout` after ``timeouts_allowed`` tries (dead letter and desk)."""
    timeouts = 0

    async def attempt() -> object:
        nonlocal timeouts
        try:
            async with asyncio.timeout(deadline_s):
                return await call()
        except TimeoutError:
            timeouts += 1
            if timeouts >= timeouts_allowed:
                raise HandlerTimeout(f"{agent}: no answer in {deadline_s:g} s") from None
            raise

    return await retry_transient(
        attempt, part=agent, attempts=None, on_retry=metrics.retries.labels(agent).inc
    )


def _outcome_label(outcome: object) -> str:
    if isinstance(outcome, str):  # handlers that return a fixed label
        return outcome
    action = getattr(outcome, "action", None)
    if action is not None:
        return str(action)
    rejected = getattr(outcome, "rejected", None)
    if rejected:
        return "rejected"
    if outcome is None or outcome is False:
        return "ignored"
    return "ok"
