"""The stream agents: intake, acknowledgements, device changes and dispatch commands.

Each one decodes raw bytes with the codec, calls a handler, and turns bad
input into a dead letter; the worker keeps running. An intake event whose
handling fails unexpectedly also alerts the operator desk (never drop an
urgent message); errors from Redis or Kafka are retried before that.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import faust

from engine.adapters.dead_letters import DeadLetterWriter
from engine.handlers.commands import handle_ack, handle_command
from engine.handlers.devices import apply_device_change
from engine.handlers.intake import UnknownPracticeError, dispatch_id_for, handle_intake
from engine.handlers.services import Services
from engine.metrics import Metrics
from engine.progress import Progress
from engine.schemas._base import derived_event_id
from engine.schemas.catalogue import spec
from engine.schemas.codec import DecodeError, decode
from engine.schemas.devices import DeviceRegistration
from engine.schemas.intake import Urgency
from engine.schemas.outbound import OperatorAlert
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
        async for event in stream.events():
            message = event.message
            with progress.handling(message.topic, message.partition, message.offset):
                await _process(name, message, adapter, handle, max_bytes)

    async def _process(
        name: str,
        message: Any,
        adapter: Any,
        handle: Callable[[Any], Awaitable[object]],
        max_bytes: int | None,
    ) -> None:
        where = {"partition": message.partition, "offset": message.offset}
        try:
            value = decode(adapter, message.value, max_bytes)
        except DecodeError as exc:
            svc.metrics.dead_letters.labels(name, exc.code).inc()
            svc.metrics.events.labels(name, "invalid", exc.code).inc()
            await dead_letters.write(
                settings.topic(name), message.value, exc.code, exc.reason, **where
            )
            return
        kind = str(getattr(value, "kind", None) or getattr(value, "type", type(value).__name__))
        try:
            outcome = await _with_retries(
                lambda: handle(value), name, settings.handler_timeout_s, svc.metrics
            )
        except UnknownPracticeError as exc:
            svc.metrics.dead_letters.labels(name, "unknown_practice").inc()
            svc.metrics.events.labels(name, kind, "unknown_practice").inc()
            await dead_letters.write(
                settings.topic(name), message.value, "unknown_practice", str(exc), **where
            )
            await _alert_operator_desk(name, value, "unknown practice")
            return
        except Exception as exc:  # a bug must not stop the worker or lose the message
            log.exception("handler failed on %s event %s", name, getattr(value, "event_id", "?"))
            svc.metrics.dead_letters.labels(name, "handler_error").inc()
            svc.metrics.events.labels(name, kind, "error").inc()
            await dead_letters.write(
                settings.topic(name),
                message.value,
                "handler_error",
                f"{type(exc).__name__} in handler",
                **where,
            )
            await _alert_operator_desk(name, value, "engine error")
            return
        svc.metrics.events.labels(name, kind, _outcome_label(outcome)).inc()

    async def _alert_operator_desk(name: str, value: Any, reason: str) -> None:
        """Intake we could not handle still reaches a human at the answering service."""
        if name != "intake":
            return
        svc.metrics.operator_fallbacks.labels(reason.replace(" ", "_")).inc()
        await svc.publisher.publish(
            "operator.alerts",
            value.practice_id,
            OperatorAlert(
                event_id=derived_event_id("op-intake", value.event_id),
                dispatch_id=dispatch_id_for(value.event_id),
                practice_id=value.practice_id,
                desk_id=settings.default_operator_desk,
                urgency=value.operator_urgency or Urgency.URGENT,
                reason=reason,
                at=svc.clock.now(),
            ),
        )

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


async def _with_retries(
    call: Callable[[], Awaitable[object]],
    agent: str,
    deadline_s: float,
    metrics: Metrics,
    attempts: int = 6,
) -> object:
    """The handler call, with a deadline per attempt and transient failures retried."""
    return await retry_transient(
        call,
        part=agent,
        attempts=attempts,
        deadline_s=deadline_s,
        on_retry=metrics.retries.labels(agent).inc,
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
