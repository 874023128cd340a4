"""Intake: triage a validated call or message and act on the decision.

Idempotent under redelivery: the dispatch id is derived from the intake event
id, so a second delivery finds the dispatch and only re-runs unfinished
effects; held and office-delivered messages are deduplicated by event id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from engine.domain.dispatch import DispatchState, start_dispatch
from engine.domain.escalation import build_plan
from engine.domain.oncall import resolve_chain
from engine.domain.practice import Practice
from engine.domain.triage import TriageAction, TriageResult, triage
from engine.handlers.dispatching import decide_and_apply
from engine.handlers.office import deliver_to_office, hold_for_office
from engine.handlers.services import Services
from engine.push.payload import PushContent
from engine.schemas._base import derived_event_id
from engine.schemas.intake import IntakeEvent, VoiceCall
from engine.schemas.outbound import LiveTransferInstruction

__all__ = [
    "IntakeOutcome",
    "UnknownPracticeError",
    "dispatch_id_for",
    "handle_intake",
    "push_content",
]


class UnknownPracticeError(LookupError):
    """The event names a practice Nightline does not serve (dead letter)."""


@dataclass(frozen=True)
class IntakeOutcome:
    action: str  # TriageAction value, or "duplicate"
    urgency: str
    dispatch_id: str | None = None


def dispatch_id_for(intake_event_id: uuid.UUID) -> str:
    return f"d-{intake_event_id}"


async def handle_intake(svc: Services, event: IntakeEvent) -> IntakeOutcome:
    practice = await svc.practices.get(event.practice_id)
    if practice is None:
        raise UnknownPracticeError(f"unknown practice {event.practice_id!r}")
    now = svc.clock.now()
    result = triage(event, practice, now)
    if result.action in (TriageAction.DISPATCH, TriageAction.LIVE_TRANSFER):
        return await _dispatch(svc, event, practice, result)
    seen_key = f"intake:{event.event_id}"
    if await svc.held.was_seen(seen_key):
        return IntakeOutcome("duplicate", str(result.urgency))
    if result.action is TriageAction.HOLD_FOR_OFFICE and result.release_at is not None:
        await hold_for_office(svc, practice.practice_id, event.event_id, result.release_at)
    else:
        await deliver_to_office(svc, practice.practice_id, event.event_id)
    await svc.held.mark_seen(seen_key, svc.dedupe_ttl_s)  # after the work: a crash redoes it
    return IntakeOutcome(str(result.action), str(result.urgency))


async def _dispatch(
    svc: Services, event: IntakeEvent, practice: Practice, result: TriageResult
) -> IntakeOutcome:
    dispatch_id = dispatch_id_for(event.event_id)
    if svc.vault is not None:  # before the commit: the first page right after it reads this
        await svc.vault.put(push_content(dispatch_id, event, practice, result))
    created = False

    def decide(state: DispatchState | None, now: datetime):  # type: ignore[no-untyped-def]
        nonlocal created
        if state is not None:
            return None  # redelivery: already dispatched
        created = True
        chain = resolve_chain(practice, now, result.urgency, event.coverage_group)
        plan = build_plan(chain, practice.policy_for(result.urgency))
        return start_dispatch(dispatch_id, practice.practice_id, result.urgency, plan, now)

    meta = {
        "intake_event_id": str(event.event_id),
        "received_at": event.received_at.isoformat(),
        "triage": list(result.reasons),
    }
    decision = await decide_and_apply(svc, dispatch_id, decide, meta=meta)
    if decision is None:
        await _rerun_pending(svc, dispatch_id)
        return IntakeOutcome("duplicate", str(result.urgency), dispatch_id)
    first = decision.state.plan.step(0)
    if (
        result.action is TriageAction.LIVE_TRANSFER
        and created
        and isinstance(event, VoiceCall)
        and not first.is_operator
    ):
        await svc.publisher.publish(
            "telephony.transfers",
            event.call_id,
            LiveTransferInstruction(
                event_id=derived_event_id("lt", dispatch_id),
                call_id=event.call_id,
                practice_id=practice.practice_id,
                dispatch_id=dispatch_id,
                clinician_id=first.targets[0],
                urgency=result.urgency,
                at=decision.state.created_at,
            ),
        )
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


def _rejecting(state: DispatchState | None, now: datetime):  # type: ignore[no-untyped-def]
    from engine.domain.dispatch import Decision

    return None if state is None else Decision(state=state, effects=(), rejected="duplicate")
