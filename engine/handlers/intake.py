"""Intake: triage a validated call or message and act on the decision.

Idempotent under redelivery: the dispatch id is derived from the intake event
id, so a second delivery finds the dispatch and only re-runs unfinished
effects; held and office-delivered messages are deduplicated by event id. A
reused event id with *different* content is a conflict, never a silent duplicate:
the running dispatch keeps its message, and the new one goes to the dead letters
and the desk (:class:`IntakeConflictError`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from engine.domain.dispatch import Decision, DispatchState, Resolver, start_dispatch
from engine.domain.escalation import dispatch_plan, level_resolver
from engine.domain.practice import Practice
from engine.domain.triage import TriageAction, TriageResult, triage
from engine.handlers.dispatching import decide_and_apply
from engine.handlers.office import deliver_to_office, hold_for_office
from engine.handlers.services import Services
from engine.push.payload import PushContent
from engine.schemas.intake import IntakeEvent, VoiceCall

__all__ = [
    "IntakeConflictError",
    "IntakeOutcome",
    "UnknownPracticeError",
    "dispatch_id_for",
    "fingerprint",
    "handle_intake",
    "push_content",
]


class UnknownPracticeError(LookupError):
    """The event names a practice Nightline does not serve (dead letter and desk)."""


class IntakeConflictError(ValueError):
    """An event id already used by a different message (dead letter and desk)."""


@dataclass(frozen=True)
class IntakeOutcome:
    action: str  # TriageAction value, or "duplicate"
    urgency: str
    dispatch_id: str | None = None


def dispatch_id_for(intake_event_id: uuid.UUID) -> str:
    return f"d-{intake_event_id}"


def fingerprint(event: IntakeEvent) -> str:
    """A digest of the validated event: equal for a producer's retry, different when
    an event id is reused for another message (no PHI: a one-way hash)."""
    return hashlib.sha256(event.model_dump_json().encode()).hexdigest()[:32]


async def handle_intake(svc: Services, event: IntakeEvent) -> IntakeOutcome:
    practice = await svc.practices.get(event.practice_id)
    if practice is None:
        raise UnknownPracticeError("unknown practice")
    now = svc.clock.now()
    result = triage(event, practice, now)
    digest = fingerprint(event)
    earlier = await _earlier_outcome(svc, event, digest, result)
    if earlier is not None:
        return earlier
    if result.action in (TriageAction.DISPATCH, TriageAction.LIVE_TRANSFER):
        return await _dispatch(svc, event, practice, result, digest)
    if result.action is TriageAction.HOLD_FOR_OFFICE and result.release_at is not None:
        await hold_for_office(svc, practice.practice_id, event.event_id, result.release_at)
    else:
        await deliver_to_office(svc, practice.practice_id, event.event_id)
    await svc.held.mark_seen(_seen_key(event), svc.dedupe_ttl_s, digest)  # after the work
    return IntakeOutcome(str(result.action), str(result.urgency))


def _seen_key(event: IntakeEvent) -> str:
    return f"intake:{event.event_id}"


async def _earlier_outcome(
    svc: Services, event: IntakeEvent, digest: str, result: TriageResult
) -> IntakeOutcome | None:
    """The outcome of an earlier record with this event id, whichever way it went (held,
    delivered or dispatched): a duplicate when the content is the same, a conflict when
    it is not or cannot be told (a record kept before fingerprints were)."""
    seen = await svc.held.seen_value(_seen_key(event))
    if seen is not None:
        _check_same(seen, digest)
        return IntakeOutcome("duplicate", str(result.urgency))
    dispatch_id = dispatch_id_for(event.event_id)
    stored = await svc.dispatches.load(dispatch_id)
    if stored is None:
        return None
    _check_same(stored.meta.get("fingerprint"), digest)
    await _rerun_pending(svc, dispatch_id)  # a crash may have left its first effects unrun
    return IntakeOutcome("duplicate", str(result.urgency), dispatch_id)


def _check_same(kept: object, digest: str) -> None:
    if kept != digest:
        raise IntakeConflictError("event id reused for different content (or unknown content)")


async def _dispatch(
    svc: Services, event: IntakeEvent, practice: Practice, result: TriageResult, digest: str
) -> IntakeOutcome:
    dispatch_id = dispatch_id_for(event.event_id)
    if svc.vault is not None:  # before the commit: the first page right after it reads this
        content = push_content(dispatch_id, event, practice, result)
        retention = practice.content_retention_hours
        ttl_s = retention * 3600 if retention else None
        await svc.vault.put(content, replace=False, ttl_s=ttl_s)  # never swap a running one
    live = result.action is TriageAction.LIVE_TRANSFER and isinstance(event, VoiceCall)
    call_id = event.call_id if live and isinstance(event, VoiceCall) else None

    def decide(
        state: DispatchState | None, now: datetime, resolve: Resolver | None
    ) -> Decision | None:
        if state is not None:
            return None  # created meanwhile by a redelivery: handled below
        plan = dispatch_plan(
            practice,
            result.urgency,
            event.coverage_group,
            now,
            desk_timeout_seconds=svc.desk_timeout_s,
            receipt_timeout_seconds=svc.receipt_timeout_s,
        )
        return start_dispatch(
            dispatch_id,
            practice.practice_id,
            result.urgency,
            plan,
            now,
            resolve=level_resolver(practice, plan),
            live_call_id=call_id,
        )

    meta = {
        "intake_event_id": str(event.event_id),
        "received_at": event.received_at.isoformat(),
        "triage": list(result.reasons),
        "fingerprint": digest,
    }
    decision = await decide_and_apply(svc, dispatch_id, decide, meta=meta, absent=True)
    if decision is None:  # another record with this id won the race: compare with it
        earlier = await _earlier_outcome(svc, event, digest, result)
        assert earlier is not None  # the dispatch exists now
        return earlier
    return IntakeOutcome(str(result.action), str(result.urgency), dispatch_id)


def push_content(
    dispatch_id: str, event: IntakeEvent, practice: Practice, result: TriageResult
) -> PushContent:
    """What the clinician's phone decrypts: who, how to call back, what was said."""
    caller = event.caller
    name = event.patient.name if event.patient else caller.name or f"{caller.type} caller"
    return PushContent(
        dispatch_id=dispatch_id,
        urgency=result.urgency,
        patient_name=name,
        callback_number=str(caller.callback_number or ""),
        message=event.message,
        practice_name=practice.name,
    )


async def _rerun_pending(svc: Services, dispatch_id: str) -> None:
    """A redelivered intake whose first effects never ran (crash): run them now."""
    await decide_and_apply(svc, dispatch_id, _rejecting)


def _rejecting(
    state: DispatchState | None, now: datetime, resolve: Resolver | None
) -> Decision | None:
    return None if state is None else Decision(state=state, effects=(), rejected="duplicate")
