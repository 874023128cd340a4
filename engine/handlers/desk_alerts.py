"""Input nobody could act on still reaches a human: every intake dead letter (an event
that does not decode, names a practice we do not serve, reuses an event id, or failed in
the engine), and an acknowledgement or timer firing of a dispatch that failed in the
engine, starts a desk-only dispatch.

That dispatch is an ordinary one whose plan is the operator desk alone, so the desk
is alerted and re-alerted on the same timer until an operator claims it, exactly like
an escalation that ran out of clinicians. It goes to the practice's own desk when the
practice can be read, else to the deployment's default desk, with the urgency the
message would have had when that can be told (never below urgent), the place of the
rejected record (and the dispatch it concerned), and no PHI.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.domain.dispatch import Decision, DispatchState, Resolver, desk_only_plan, start_dispatch
from engine.domain.triage import triage
from engine.handlers.dispatching import decide_and_apply
from engine.handlers.services import Services
from engine.schemas._base import derived_event_id
from engine.schemas.intake import Urgency
from engine.schemas.peek import peek_intake_ids

__all__ = [
    "UNKNOWN_PRACTICE",
    "RejectedInput",
    "alert_desk_for_rejected",
    "desk_dispatch_id",
    "peek_intake",
    "rejected_dispatch_input",
    "rejected_intake",
]

log = logging.getLogger(__name__)

UNKNOWN_PRACTICE = "unknown"
"""The practice id of a desk alert whose event names no readable practice."""


@dataclass(frozen=True)
class RejectedInput:
    """What is known of a record nobody could act on (ids and codes only), and where it
    is in the log: ``written_ms`` (the record's timestamp) tells apart records at the
    same offset of a topic that was deleted and made again."""

    reason: str  # a fixed phrase for the desk: "intake rejected", "engine error", ...
    reason_code: str  # the dead letter's reason code
    topic: str = ""
    partition: int | None = None
    offset: int | None = None
    written_ms: int | None = None
    practice_id: str | None = None
    event_id: uuid.UUID | None = None
    urgency: Urgency = Urgency.URGENT
    dispatch_id: str | None = None  # the dispatch an acknowledgement or firing concerned


def desk_dispatch_id(rejected: RejectedInput) -> str:
    """One per rejected record, derived from its place in the log (a redelivery of the
    same record finds the same dispatch; ten records reusing one event id are ten
    alerts); never the ``d-<event id>`` a corrected replay of the event will start."""
    place: tuple[object, ...] = (
        rejected.topic,
        rejected.partition,
        rejected.offset,
        rejected.written_ms,
    )
    if rejected.offset is None:  # no place known (a caller outside the agents)
        place = ("event", rejected.event_id, rejected.dispatch_id, rejected.reason_code)
    return f"dl-{derived_event_id('dl', *place)}"


async def alert_desk_for_rejected(svc: Services, rejected: RejectedInput) -> str:
    """Start (once) the desk-only dispatch for ``rejected``; returns its dispatch id."""
    practice = await svc.practices.get(rejected.practice_id) if rejected.practice_id else None
    desk = practice.operator_desk if practice is not None else svc.default_desk
    dispatch_id = desk_dispatch_id(rejected)
    urgency = max(rejected.urgency, Urgency.URGENT, key=lambda u: u.rank)
    plan = desk_only_plan(desk, svc.desk_timeout_s)

    def decide(
        state: DispatchState | None, now: datetime, resolve: Resolver | None
    ) -> Decision | None:
        if state is not None:  # redelivered: re-run whatever the first try left undone
            return Decision(state=state, effects=(), rejected="duplicate")
        practice_id = rejected.practice_id or UNKNOWN_PRACTICE
        return start_dispatch(dispatch_id, practice_id, urgency, plan, now, reason=rejected.reason)

    source = {
        "topic": rejected.topic,
        "partition": rejected.partition,
        "offset": rejected.offset,
        "reason_code": rejected.reason_code,
    }
    meta: dict[str, object] = {"source": source}
    if rejected.event_id is not None:
        meta["intake_event_id"] = str(rejected.event_id)
    if rejected.dispatch_id is not None:
        meta["related_dispatch_id"] = rejected.dispatch_id
    await decide_and_apply(svc, dispatch_id, decide, meta=meta)
    return dispatch_id


async def rejected_intake(
    svc: Services, event: Any, raw: bytes | None, reason: str, reason_code: str
) -> RejectedInput:
    """What can be told of a rejected intake record: ids from the decoded ``event`` when
    there is one, else read best-effort from the ``raw`` bytes; and its urgency."""
    practice_id: str | None
    if event is not None:
        practice_id, event_id = str(event.practice_id), event.event_id
        urgency = await _urgency_of(svc, event)
    else:
        practice_id, event_id, urgency = peek_intake(raw)
    return RejectedInput(
        reason, reason_code, practice_id=practice_id, event_id=event_id, urgency=urgency
    )


async def rejected_dispatch_input(
    svc: Services, dispatch_id: str, reason: str, reason_code: str
) -> RejectedInput:
    """What can be told of an acknowledgement or timer firing of ``dispatch_id`` that
    failed: the dispatch's practice and urgency, when it can still be read."""
    try:
        stored = await svc.dispatches.load(dispatch_id)
        state = DispatchState.from_dict(stored.state) if stored else None
    except Exception:  # what failed may be the stored dispatch itself
        log.warning("dispatch %s cannot be read for its desk alert", dispatch_id)
        state = None
    return RejectedInput(
        reason,
        reason_code,
        practice_id=None if state is None else state.practice_id,
        urgency=Urgency.URGENT if state is None else state.urgency,
        dispatch_id=dispatch_id,
    )


async def _urgency_of(svc: Services, event: Any) -> Urgency:
    """The urgency triage gives the event, when its practice can still triage it; else
    the operator's or caller's, never below urgent."""
    try:
        practice = await svc.practices.get(event.practice_id)
        if practice is not None:
            return triage(event, practice, svc.clock.now()).urgency
    except Exception:  # the practice is what failed: fall back to the event's own hints
        log.warning("triage failed for a rejected intake event; assuming urgent")
    hints = (event.operator_urgency, event.caller_requested_urgency, Urgency.URGENT)
    return max((u for u in hints if u is not None), key=lambda u: u.rank)


def peek_intake(raw: bytes | None) -> tuple[str | None, uuid.UUID | None, Urgency]:
    """``practice_id`` and ``event_id`` of undecodable bytes when they are valid ids
    (:func:`~engine.schemas.peek.peek_intake_ids`), and emergency when an urgency field
    of a record that still parses says so; nothing else is read."""
    ids = peek_intake_ids(raw)
    try:
        data = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        data = None
    said = (
        (data.get("operator_urgency"), data.get("caller_requested_urgency"))
        if isinstance(data, dict)
        else ()
    )
    urgency = Urgency.EMERGENCY if Urgency.EMERGENCY.value in said else Urgency.URGENT
    return ids.practice_id, ids.event_id, urgency
