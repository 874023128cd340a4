"""The operator desk: the live queue of alerts (a list and a Server-Sent Event stream),
and claiming and resolving an alert (the script for an incoming call and paging on a
caller's behalf are in ``desk_calls``).

An operator works a practice whose alerts go to a desk they work (:func:`works`).
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
from engine.api.desk_board import DeskItem
from engine.api.ingest import unavailable
from engine.api.problems import ApiProblem, problem_responses
from engine.api.publishing import KafkaUnavailableError
from engine.api.services import ApiServices
from engine.domain.practice import Practice
from engine.handlers.desk_alerts import UNKNOWN_PRACTICE
from engine.schemas._base import derived_event_id
from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.audit import AuditEvent
from engine.schemas.codec import encode

__all__ = ["Operator", "Services", "operator_id", "router", "served_practice", "works"]

router = APIRouter(prefix="/v1/desk", tags=["desk"])
Services = Annotated[ApiServices, Depends(services_of)]
Operator = Annotated[Principal, Depends(requires("operator", "service_admin"))]
_ERRORS = problem_responses(404, 409)
_HEARTBEAT_S = 10.0
_CONFIRM_S = 3.0  # how long a claim waits to see the worker record it
_PENDING_CLAIM_S = 120  # a claim whose publish failed holds the alert this long


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


def works(principal: Principal, practice_id: str, desk_id: str | None) -> bool:
    """Whether this person works a practice's desk alerts: a service administrator
    always; an operator for a practice in their scope whose alerts go to a desk they
    work (an alert whose input named no readable practice: by its desk alone). One
    rule for the queue, the stream, claims, resolves, scripts and pages."""
    if principal.all_practices:
        return True
    if desk_id is None or desk_id not in principal.desks:
        return False
    return practice_id == UNKNOWN_PRACTICE or principal.may_act_for(practice_id)


def _visible(principal: Principal, item: DeskItem) -> bool:
    return works(principal, item.practice_id, item.desk_id)


async def served_practice(
    services: ApiServices, principal: Principal, practice_id: str
) -> Practice | None:
    """The practice, if this person works its desk; else None (never says which)."""
    if not principal.may_act_for(practice_id):
        return None
    practice = await services.practices.get(practice_id)
    if practice is None or not works(principal, practice_id, practice.operator_desk):
        return None
    return practice


def operator_id(principal: Principal) -> str:
    return principal.subject.removeprefix("account:")


_URGENCY_ORDER = {"emergency": 0, "urgent": 1, "routine": 2}


async def _view(services: ApiServices, item: DeskItem) -> DeskAlert:
    claimed, _ = _holder(await services.redis.get(services.keys.desk_claim(item.dispatch_id)))
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
        claimed_by=claimed,
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
    closed`` when one leaves the queue; a comment line every 10 s keeps proxies open. The
    stream ends when the session does (sign-out, idle, disabled) or when the console
    falls too far behind: reconnect for a fresh snapshot."""
    subscription = services.desk.subscribe()
    snapshot = [i for i in services.desk.board.open.values() if _visible(principal, i)]
    session = principal.session or ""

    async def events() -> AsyncIterator[str]:
        try:
            for item in snapshot:
                yield _sse("alert", await _view(services, item))
            while not subscription.closed.is_set():
                change = await subscription.next(_HEARTBEAT_S)
                if change is None:
                    if not await services.sessions.alive(session, services.clock.now()):
                        return
                    yield ": keep-alive\n\n"
                elif _visible(principal, change.item):
                    yield _sse(change.kind, await _view(services, change.item))
        finally:
            services.desk.unsubscribe(subscription)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )


def _sse(kind: str, alert: DeskAlert) -> str:
    return f"event: {kind}\nid: {alert.dispatch_id}\ndata: {alert.model_dump_json()}\n\n"


def _open_item(services: ApiServices, principal: Principal, dispatch_id: str) -> DeskItem | None:
    item = services.desk.board.open.get(dispatch_id)
    if item is None or not _visible(principal, item):
        return None
    if item.desk_id not in principal.desks and "service_admin" not in principal.roles:
        raise ApiProblem(403, "Forbidden", "You do not work that alert's desk.", kind="forbidden")
    return item


def _not_found() -> ApiProblem:
    return ApiProblem(404, "Not found", "No open desk alert with that id.", kind="not-found")


def _holder(raw: bytes | str | None) -> tuple[str | None, str | None]:
    """(operator, desk) of a claim record."""
    if raw is None:
        return None, None
    text = raw.decode() if isinstance(raw, bytes) else raw
    operator, _, desk = text.partition("|")
    return operator, desk or None


async def _owned_at_desk(services: ApiServices, dispatch_id: str) -> dict[str, Any] | None:
    stored = await services.dispatches.load(dispatch_id)
    return None if stored is None else stored.state


def _mine_at_desk(state: dict[str, Any] | None, me: str) -> bool:
    return bool(
        state
        and state.get("status") == "accepted"
        and state.get("accepted_at_desk")
        and state.get("accepted_by") == me
    )


@router.post(
    "/alerts/{dispatch_id}/claim", response_model=Claimed, responses=_ERRORS, summary="Claim"
)
async def claim(dispatch_id: str, services: Services, principal: Operator) -> Claimed:
    """Take the alert: the desk's acknowledgement, which stops its re-alerts. The answer
    waits up to 3 s for the worker to record it: ``claimed`` (it did), 409 (another
    operator, or a clinician, took it first), or ``claim_sent`` (not recorded yet: see
    ``GET /v1/desk/claims``). Claiming again as the same operator is harmless."""
    me = operator_id(principal)
    item = _open_item(services, principal, dispatch_id)
    if item is None:
        state = await _owned_at_desk(services, dispatch_id)
        if _mine_at_desk(state, me):
            return Claimed(dispatch_id=dispatch_id, claimed_by=me, status="claimed")
        holder, desk = _holder(await services.redis.get(services.keys.desk_claim(dispatch_id)))
        practice = str(state.get("practice_id", "")) if state is not None else ""
        visible = state is not None and works(principal, practice, desk)
        if holder is not None and visible:
            raise ApiProblem(
                409, "Conflict", "Another operator has claimed this alert.", kind="claimed"
            )
        raise _not_found()
    key = services.keys.desk_claim(dispatch_id)
    record = f"{me}|{item.desk_id}"
    if not await services.redis.set(key, record, nx=True, ex=_PENDING_CLAIM_S):
        holder, _ = _holder(await services.redis.get(key))
        if holder != me:
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
        # The record may still reach the broker: the claim stays yours for two minutes,
        # so retrying is safe; if it never lands, another operator can claim after that.
        raise unavailable("Kafka") from None
    await services.redis.set(key, record, ex=7 * 24 * 3600)
    await services.redis.sadd(services.keys.desk_claims(me), dispatch_id)
    return await _confirmed(services, dispatch_id, me, key)


async def _confirmed(services: ApiServices, dispatch_id: str, me: str, key: str) -> Claimed:
    for _ in range(int(_CONFIRM_S / 0.1)):
        state = await _owned_at_desk(services, dispatch_id)
        if _mine_at_desk(state, me):
            return Claimed(dispatch_id=dispatch_id, claimed_by=me, status="claimed")
        if state and state.get("status") != "operator":
            await services.redis.delete(key)
            await services.redis.srem(services.keys.desk_claims(me), dispatch_id)
            raise ApiProblem(
                409,
                "Conflict",
                "Someone else took this dispatch first (a clinician accepted it, or another "
                "operator claimed it).",
                kind="claimed",
            )
        await asyncio.sleep(0.1)
    return Claimed(dispatch_id=dispatch_id, claimed_by=me, status="claim_sent")


class MyClaim(BaseModel):
    dispatch_id: str
    practice_id: str
    urgency: str
    claimed_at: datetime | None


@router.get("/claims", response_model=list[MyClaim], responses=_ERRORS, summary="My claims")
async def my_claims(services: Services, principal: Operator) -> list[MyClaim]:
    """The dispatches the worker recorded you as owning at the desk and that you have not
    resolved: a claimed alert leaves the queue, and must not leave your sight."""
    me = operator_id(principal)
    key = services.keys.desk_claims(me)
    out = []
    for raw in sorted(await services.redis.smembers(key)):
        dispatch_id = raw.decode() if isinstance(raw, bytes) else raw
        state = await _owned_at_desk(services, dispatch_id)
        if _mine_at_desk(state, me) and state is not None:
            out.append(
                MyClaim(
                    dispatch_id=dispatch_id,
                    practice_id=str(state["practice_id"]),
                    urgency=str(state["urgency"]),
                    claimed_at=state.get("updated_at"),
                )
            )
        elif state is None or state.get("status") != "operator":
            await services.redis.srem(key, dispatch_id)  # resolved, taken by others, or gone
    return out


@router.post(
    "/alerts/{dispatch_id}/resolve", response_model=Claimed, responses=_ERRORS, summary="Resolve"
)
async def resolve(
    dispatch_id: str, body: Resolution, services: Services, principal: Operator
) -> Claimed:
    """Close a dispatch the worker recorded you as owning, with its outcome (audited) and
    a note (kept sealed)."""
    me = operator_id(principal)
    state = await _owned_at_desk(services, dispatch_id)
    practice = str(state.get("practice_id", "")) if state is not None else ""
    _, desk = _holder(await services.redis.get(services.keys.desk_claim(dispatch_id)))
    if state is None or not works(principal, practice, desk):
        raise _not_found()
    if not _mine_at_desk(state, me):
        raise ApiProblem(
            409,
            "Conflict",
            "You do not own this dispatch at the desk (not claimed by you, not recorded yet, "
            "or already resolved).",
            kind="not-owner",
        )
    assert state is not None
    _, desk_id = _holder(await services.redis.get(services.keys.desk_claim(dispatch_id)))
    now = services.clock.now()
    close = Acknowledgement(
        event_id=derived_event_id("desk-resolve", dispatch_id, me),
        dispatch_id=dispatch_id,
        operator_id=me,
        desk_id=desk_id or services.settings.default_operator_desk,
        kind=AckKind.CALLBACK_COMPLETED,
        at=now,
    )
    audit = AuditEvent(
        event_id=derived_event_id("desk-outcome", dispatch_id, me),
        at=now,
        practice_id=str(state["practice_id"]),
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
    await services.redis.srem(services.keys.desk_claims(me), dispatch_id)
    return Claimed(dispatch_id=dispatch_id, claimed_by=me, status="resolved")
