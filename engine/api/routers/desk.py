"""The operator desk: the live queue of alerts (a list and a Server-Sent Event stream),
claiming and resolving an alert, and paging on a caller's behalf.

An operator sees the alerts of the practices in their scope, and those of the desks
they work (an intake that named no readable practice goes to the default desk).
Claiming is the desk's acknowledgement: it stops the desk's re-alerts. The first
operator to claim wins; another gets 409.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from engine.api.deps import Principal, requires, services_of
from engine.api.desk_board import DeskChange, DeskItem
from engine.api.ingest import accept_event, unavailable
from engine.api.problems import ApiProblem, Problem
from engine.api.publishing import KafkaUnavailableError
from engine.api.routers.ingest import IntakeAccepted
from engine.api.services import ApiServices
from engine.domain.desk_script import desk_script
from engine.schemas._base import Identifier, derived_event_id
from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.audit import AuditEvent
from engine.schemas.codec import encode
from engine.schemas.intake import Urgency

__all__ = ["router"]

router = APIRouter(prefix="/v1/desk", tags=["desk"])
Services = Annotated[ApiServices, Depends(services_of)]
Operator = Annotated[Principal, Depends(requires("operator", "service_admin"))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (401, 403, 404, 409, 422, 503)
}
_HEARTBEAT_S = 15.0


class DeskAlert(BaseModel):
    dispatch_id: str
    practice_id: str
    desk_id: str
    urgency: str
    reason: str = Field(description="Why it reached the desk (no PHI).")
    alerts: int = Field(description="How many times the desk has been alerted.")
    first_alerted_at: datetime
    age_seconds: float
    claimed_by: str | None = None


class DeskQueue(BaseModel):
    alerts: list[DeskAlert]


class Outcome(StrEnum):
    REACHED_CLINICIAN = "reached_clinician_by_phone"
    ADVISED_911 = "caller_advised_911"
    MESSAGE_TAKEN = "message_taken"
    CALLER_UNREACHABLE = "caller_unreachable"
    OTHER = "other"


class Resolution(BaseModel):
    outcome: Outcome
    note: str = Field(default="", max_length=2000, description="Free text (kept sealed).")


class Claimed(BaseModel):
    dispatch_id: str
    claimed_by: str
    status: str


def _visible(principal: Principal, item: DeskItem) -> bool:
    return principal.may_act_for(item.practice_id) or item.desk_id in principal.desks


def _operator_id(principal: Principal) -> str:
    return principal.subject.removeprefix("account:")


_URGENCY_ORDER = {"emergency": 0, "urgent": 1, "routine": 2}


async def _view(services: ApiServices, item: DeskItem) -> DeskAlert:
    claimed = await services.redis.get(services.keys.desk_claim(item.dispatch_id))
    now = services.clock.now()
    return DeskAlert(
        dispatch_id=item.dispatch_id,
        practice_id=item.practice_id,
        desk_id=item.desk_id,
        urgency=item.urgency,
        reason=item.reason,
        alerts=item.alerts,
        first_alerted_at=item.first_alerted_at,
        age_seconds=round(max(0.0, (now - item.first_alerted_at).total_seconds()), 1),
        claimed_by=claimed.decode() if isinstance(claimed, bytes) else claimed,
    )


@router.get("/alerts", response_model=DeskQueue, responses=_ERRORS, summary="The live queue")
async def list_alerts(services: Services, principal: Operator) -> DeskQueue:
    """Open alerts, most urgent first, then oldest first."""
    items = [i for i in services.desk.board.open.values() if _visible(principal, i)]
    items.sort(key=lambda i: (_URGENCY_ORDER.get(i.urgency, 3), i.first_alerted_at))
    return DeskQueue(alerts=[await _view(services, i) for i in items])


@router.get(
    "/stream",
    responses={200: {"content": {"text/event-stream": {}}}, **_ERRORS},
    summary="The live queue as Server-Sent Events",
)
async def stream(services: Services, principal: Operator) -> StreamingResponse:
    """``event: alert`` for each open alert now and each new or repeated one, ``event:
    closed`` when one leaves the queue; a comment line every 15 s keeps proxies open."""
    queue = services.desk.subscribe()
    snapshot = [i for i in services.desk.board.open.values() if _visible(principal, i)]

    async def events() -> AsyncIterator[str]:
        try:
            for item in snapshot:
                yield _sse("alert", await _view(services, item))
            while True:
                try:
                    change: DeskChange | None = await asyncio.wait_for(queue.get(), _HEARTBEAT_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if change is None:
                    return
                if _visible(principal, change.item):
                    yield _sse(change.kind, await _view(services, change.item))
        finally:
            services.desk.unsubscribe(queue)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )


def _sse(kind: str, alert: DeskAlert) -> str:
    return f"event: {kind}\nid: {alert.dispatch_id}\ndata: {alert.model_dump_json()}\n\n"


def _open_item(services: ApiServices, principal: Principal, dispatch_id: str) -> DeskItem:
    item = services.desk.board.open.get(dispatch_id)
    if item is None or not _visible(principal, item):
        raise ApiProblem(404, "Not found", "No open desk alert with that id.", kind="not-found")
    if item.desk_id not in principal.desks and "service_admin" not in principal.roles:
        raise ApiProblem(403, "Forbidden", "You do not work that alert's desk.", kind="forbidden")
    return item


@router.post(
    "/alerts/{dispatch_id}/claim", response_model=Claimed, responses=_ERRORS, summary="Claim"
)
async def claim(dispatch_id: str, services: Services, principal: Operator) -> Claimed:
    """Take the alert: the desk's acknowledgement, which stops its re-alerts. Claiming
    again as the same operator is harmless; another operator's claim is 409."""
    item = _open_item(services, principal, dispatch_id)
    me = _operator_id(principal)
    key = services.keys.desk_claim(dispatch_id)
    if not await services.redis.set(key, me, nx=True, ex=7 * 24 * 3600):
        holder = await services.redis.get(key)
        if (holder.decode() if isinstance(holder, bytes) else holder) != me:
            raise ApiProblem(
                409, "Conflict", "Another operator has claimed this alert.", kind="claimed"
            )
    ack = Acknowledgement(
        event_id=derived_event_id("desk-claim", dispatch_id, me),
        dispatch_id=dispatch_id,
        operator_id=me,
        desk_id=item.desk_id,
        kind=AckKind.ACCEPTED,
        at=services.clock.now(),
    )
    try:
        await services.publisher.publish(services.settings.topic("acks"), dispatch_id, encode(ack))
    except KafkaUnavailableError:
        await services.redis.delete(key)
        raise unavailable("Kafka") from None
    return Claimed(dispatch_id=dispatch_id, claimed_by=me, status="claimed")


@router.post(
    "/alerts/{dispatch_id}/resolve", response_model=Claimed, responses=_ERRORS, summary="Resolve"
)
async def resolve(
    dispatch_id: str, body: Resolution, services: Services, principal: Operator
) -> Claimed:
    """Close an alert you claimed, with its outcome (audited) and a note (kept sealed)."""
    me = _operator_id(principal)
    holder = await services.redis.get(services.keys.desk_claim(dispatch_id))
    if holder is None:
        raise ApiProblem(404, "Not found", "You have not claimed that alert.", kind="not-found")
    if (holder.decode() if isinstance(holder, bytes) else holder) != me:
        raise ApiProblem(409, "Conflict", "Another operator claimed this alert.", kind="claimed")
    practice_id = await _practice_of(services, dispatch_id)
    now = services.clock.now()
    desk_id = next(iter(sorted(principal.desks)), services.settings.default_operator_desk)
    close = Acknowledgement(
        event_id=derived_event_id("desk-resolve", dispatch_id, me),
        dispatch_id=dispatch_id,
        operator_id=me,
        desk_id=desk_id,
        kind=AckKind.CALLBACK_COMPLETED,
        at=now,
    )
    audit = AuditEvent(
        event_id=derived_event_id("desk-outcome", dispatch_id, me),
        at=now,
        practice_id=practice_id,
        subject_type="dispatch",
        subject_id=dispatch_id,
        actor=me,
        action="desk_outcome",
        detail=f"outcome={body.outcome.value}" + (" note=kept" if body.note else ""),
    )
    if body.note:
        sealed = services.sealer.encrypt(body.note.encode())
        await services.redis.set(
            services.keys.desk_note(dispatch_id), sealed, ex=services.settings.vault_ttl_s
        )
    topic = services.settings.topic
    try:
        await services.publisher.publish(topic("acks"), dispatch_id, encode(close))
        await services.publisher.publish(topic("audit"), dispatch_id, encode(audit))
    except KafkaUnavailableError:
        raise unavailable("Kafka") from None
    return Claimed(dispatch_id=dispatch_id, claimed_by=me, status="resolved")


async def _practice_of(services: ApiServices, dispatch_id: str) -> str:
    item = services.desk.board.open.get(dispatch_id)
    if item is not None:
        return item.practice_id
    stored = await services.dispatches.load(dispatch_id)
    return str(stored.state.get("practice_id", "unknown")) if stored is not None else "unknown"


@router.post(
    "/page",
    status_code=202,
    response_model=IntakeAccepted,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/IntakeEvent"}}
            },
        }
    },
    summary="Page on a caller's behalf",
)
async def page(body: dict[str, Any], services: Services, principal: Operator) -> IntakeAccepted:
    """An intake event from the desk, handled like any other (triage, then pages);
    ``source_system`` is set to the desk."""
    event = {**body, "source_system": f"desk.{_operator_id(principal)}"}
    accepted = await accept_event(services, principal, event)
    return IntakeAccepted(event_id=accepted.event_id, dispatch_id=accepted.dispatch_id)


class ScriptLevel(BaseModel):
    name: str
    people: list[str] = Field(description="Display names, in paging order.")
    timeout_seconds: float | None
    repeats: int | None
    operator_desk: bool


class CallScript(BaseModel):
    practice_id: str
    practice_name: str
    greeting: str
    local_time: str
    office_open: bool
    next_opening: datetime | None
    on_call_line: str = Field(description="E.g. 'Dr. Lee is on call now, then NP Chen, ...'")
    chain: list[ScriptLevel]
    reason_urgency: dict[str, str]
    caller_type_minimum: dict[str, str]
    live_transfer_urgencies: list[str]


@router.get(
    "/practices/{practice_id}/script",
    response_model=CallScript,
    responses=_ERRORS,
    summary="The script for an incoming call",
)
async def call_script(
    practice_id: Identifier,
    services: Services,
    principal: Operator,
    urgency: Urgency = Urgency.URGENT,
) -> CallScript:
    """Greeting, office open or closed now, the call-handling rules, and who would be
    paged now for a message of ``urgency``, by name, ending at the desk."""
    practice = (
        await services.practices.get(practice_id) if principal.may_act_for(practice_id) else None
    )
    if practice is None:
        raise ApiProblem(404, "Not found", "No practice of yours has that id.", kind="not-found")
    script = desk_script(practice, services.clock.now(), urgency)
    return CallScript(
        practice_id=script.practice_id,
        practice_name=script.practice_name,
        greeting=script.greeting,
        local_time=script.local_time,
        office_open=script.office_open,
        next_opening=script.next_opening,
        on_call_line=script.on_call_line,
        chain=[
            ScriptLevel(
                name=lv.name,
                people=list(lv.people),
                timeout_seconds=lv.timeout_seconds,
                repeats=lv.repeats,
                operator_desk=lv.operator_desk,
            )
            for lv in script.chain
        ],
        reason_urgency=script.reason_urgency,
        caller_type_minimum=script.caller_type_minimum,
        live_transfer_urgencies=list(script.live_transfer_urgencies),
    )
