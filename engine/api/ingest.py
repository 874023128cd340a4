"""HTTP ingest of intake events: validate, check the caller's scope, publish once.

The event id is the idempotency key. What was accepted under it is kept in Redis
(``ingest:<event id>``) as the event's fingerprint, the same digest the worker keeps:
a retry with the same body is answered 202 again, another body under the same id 409.
The record is written as ``pending`` before the publish and completed after the
broker's acknowledgement; a publish that fails removes it, so the client's retry
publishes again (the worker drops a duplicate that did get through). An id the worker
already saw on the intake topic, from a producer that does not use HTTP, counts too.

An event that does not validate is answered 422 naming its fields (never a value), and
its bytes still go to the intake topic, where the worker dead-letters them and alerts
the operator desk, exactly as for a Kafka producer: an integration that drops the 422
must not lose a caller's message. An event for a practice outside the key's scope is
refused (403) and not forwarded.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from engine.api.deps import Principal
from engine.api.problems import ApiProblem, FieldProblem, field_problems
from engine.api.publishing import KafkaUnavailableError
from engine.api.services import ApiServices
from engine.handlers.desk_alerts import peek_intake
from engine.handlers.intake import dispatch_id_for, fingerprint
from engine.schemas.catalogue import spec
from engine.schemas.codec import encode, field_names
from engine.schemas.intake import IntakeEvent

__all__ = ["RETRY_AFTER_S", "Accepted", "accept_event", "forward_unreadable", "parse_body"]

RETRY_AFTER_S = 5
_PENDING_S = 60  # a pending record outlives any publish deadline, then frees the id


@dataclass(frozen=True)
class Accepted:
    event_id: uuid.UUID
    dispatch_id: str


def _adapter() -> TypeAdapter[Any]:
    return spec("intake").adapter


async def parse_body(services: ApiServices, raw: bytes) -> Any:
    """The request body as JSON, or a 400 problem that names no content; the bytes still
    go to the worker's dead-letter and desk path, like any unreadable intake."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        await forward_unreadable(services, None, raw)
        raise ApiProblem(
            400,
            "Bad request",
            f"The body is not JSON ({type(exc).__name__}). The operator desk was told of it.",
            kind="invalid-json",
        ) from exc


def unavailable(what: str) -> ApiProblem:
    return ApiProblem(
        503,
        "Unavailable",
        f"{what} is not available; nothing was accepted. Retry after {RETRY_AFTER_S} s.",
        kind="unavailable",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def accept_event(
    services: ApiServices, principal: Principal, data: Any, raw: bytes | None = None
) -> Accepted:
    """Accept one decoded JSON value as an intake event, or raise an :class:`ApiProblem`.
    ``raw`` is what the caller sent, forwarded as it is if the event is invalid."""
    try:
        event: IntakeEvent = _adapter().validate_python(data)
    except ValidationError as exc:
        await _forward_invalid(services, principal, data, raw)
        errors = field_problems(exc.errors(include_input=False), field_names(_adapter()))
        raise _invalid(errors) from exc
    principal.require_practice(event.practice_id)
    digest = fingerprint(event)
    accepted = Accepted(event.event_id, dispatch_id_for(event.event_id))
    if await _worker_saw(services, event, digest):
        return accepted
    key = services.keys.ingest(str(event.event_id))
    claimed = await _claim(services, key, digest)
    if claimed is None:
        return accepted
    try:
        await _publish_intake(services, event.practice_id, encode(event))
    except ApiProblem:
        if claimed:
            await services.redis.delete(key)
        raise
    await services.redis.set(key, digest, ex=services.settings.dedupe_ttl_s)
    return accepted


async def _claim(services: ApiServices, key: str, digest: str) -> bool | None:
    """True: this request records the id; False: the same event is in flight in another
    request (publish too, to answer only once it is acknowledged); None: accepted
    before. 409 when the id holds another event."""
    pending = f"pending:{digest}"
    for _ in range(3):
        if await services.redis.set(key, pending, nx=True, ex=_PENDING_S):
            return True
        kept = await services.redis.get(key)
        if kept is None:
            continue  # it expired or its publish failed just now: claim again
        kept_text = kept.decode() if isinstance(kept, bytes) else kept
        if kept_text == digest:
            return None
        if kept_text == pending:
            return False
        raise _conflict()
    return False


async def _worker_saw(services: ApiServices, event: IntakeEvent, digest: str) -> bool:
    """Whether the worker already took this event id (from any producer): True for the
    same content, a 409 for other content."""
    seen = await services.held.seen_value(f"intake:{event.event_id}")
    if seen is None:
        stored = await services.dispatches.load(dispatch_id_for(event.event_id))
        seen = None if stored is None else str(stored.meta.get("fingerprint", ""))
    if seen is None:
        return False
    if seen != digest:
        raise _conflict()
    return True


async def _forward_invalid(
    services: ApiServices, principal: Principal, data: Any, raw: bytes | None
) -> None:
    """Send an invalid event to the worker's dead-letter and desk path, unless it names a
    practice this caller may not act for."""
    if raw is None:
        try:
            raw = json.dumps(data, separators=(",", ":")).encode()
        except (ValueError, RecursionError):
            raw = b'{"unreadable": "nested too deeply"}'
    practice_id, _, _ = peek_intake(raw)
    if practice_id is not None:
        principal.require_practice(practice_id)
    await forward_unreadable(services, practice_id, raw)


async def forward_unreadable(services: ApiServices, practice_id: str | None, raw: bytes) -> None:
    """Bytes that are no valid event still reach the worker, which dead-letters them and
    alerts the desk. Over the event size limit, only its start goes (the worker's
    dead letter keeps only the start anyway, and the broker would refuse the whole)."""
    limit = services.settings.max_event_bytes
    await _publish_intake(services, practice_id, raw[: limit + 1])


async def _publish_intake(services: ApiServices, practice_id: str | None, raw: bytes) -> None:
    try:
        await services.publisher.publish(services.settings.topic("intake"), practice_id, raw)
    except KafkaUnavailableError as exc:
        raise unavailable("Kafka") from exc


def _invalid(errors: list[FieldProblem]) -> ApiProblem:
    fields = ", ".join(f"{e.field} ({e.problem})" for e in errors)
    return ApiProblem(
        422,
        "Invalid intake event",
        f"The event is not valid: {fields}. The operator desk was told of it.",
        kind="validation",
        errors=errors,
    )


def _conflict() -> ApiProblem:
    return ApiProblem(
        409,
        "Conflict",
        "This event_id was already used for a different event. Use a new event_id for a "
        "new event; reuse it only to retry the same event.",
        kind="event-id-conflict",
    )
