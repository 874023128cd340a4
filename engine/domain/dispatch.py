"""Dispatch decisions: pure calculators from (state, input, now) to a :class:`Decision`.

Each function takes the stored :class:`DispatchState` and returns the next state plus
the effects to carry out (page, schedule, cancel, notify the desk, audit, publish).
Nothing here reads a clock or does I/O. Every change bumps ``version`` by one and emits
exactly one ``AuditEntry`` and one ``StateChanged``. Stale timers and duplicate event
ids change nothing and emit nothing; other refused inputs (illegal transition, someone
not paged) change nothing and emit one audit entry. The data types live in
:mod:`engine.domain.dispatch_state` and are re-exported here; the shared moves and the
acknowledgement handlers are in private modules.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Literal

from engine.domain._dispatch_acks import handle_ack
from engine.domain._dispatch_moves import (
    SYSTEM_ACTOR,
    enter_step,
    move,
    next_level,
    refuse,
    require_aware,
)
from engine.domain.dispatch_state import (
    MAX_PROCESSED_EVENT_IDS,
    AuditEntry,
    CancelTimers,
    Decision,
    DispatchState,
    Effect,
    NotifyOperatorDesk,
    PagePerson,
    ScheduleTimer,
    StateChanged,
)
from engine.domain.escalation import EscalationPlan
from engine.domain.state_machine import PAGING, DispatchStatus, IllegalTransition, Trigger
from engine.schemas.intake import Urgency

__all__ = [
    "MAX_PROCESSED_EVENT_IDS",
    "SYSTEM_ACTOR",
    "AckKind",
    "AuditEntry",
    "CancelTimers",
    "Decision",
    "DispatchState",
    "Effect",
    "NotifyOperatorDesk",
    "PagePerson",
    "ScheduleTimer",
    "StateChanged",
    "on_ack",
    "on_ack_timeout",
    "on_cancel",
    "on_no_reachable_device",
    "on_receipt_timeout",
    "start_dispatch",
]

AckKind = Literal["received", "read", "accepted", "declined", "callback_completed"]


def start_dispatch(
    dispatch_id: str, practice_id: str, urgency: Urgency, plan: EscalationPlan, now: datetime
) -> Decision:
    """Page every target of step 0 and set its timer; with nobody on call, go to the desk."""
    require_aware(now)
    pending = DispatchState(
        dispatch_id, practice_id, urgency, DispatchStatus.PENDING, plan, 0, 0, now, now
    )
    return enter_step(
        pending,
        0,
        Trigger.PAGE_SENT,
        now,
        actor=SYSTEM_ACTOR,
        detail="dispatch started",
        reason="nobody on call",
        created=True,
    )


def on_ack_timeout(state: DispatchState, step: int, now: datetime) -> Decision:
    """No acceptance at ``step`` in time: re-page the level, page the next, or go to the desk."""
    require_aware(now)
    if step != state.step or state.status not in PAGING:
        return Decision(state, (), "stale timer")
    if state.plan.stop_on_read and state.status is DispatchStatus.READ:
        return Decision(state, (), "stale timer: stopped on read")
    seconds = state.current_step.timeout_seconds or 0
    return enter_step(
        state,
        step + 1,
        Trigger.ACK_TIMEOUT,
        now,
        actor=SYSTEM_ACTOR,
        detail=f"no ack after {seconds:g}s",
        reason="no acknowledgement",
    )


def on_no_reachable_device(state: DispatchState, step: int, now: datetime) -> Decision:
    """Nobody at ``step`` could be paged: skip the rest of the level at once."""
    require_aware(now)
    if step != state.step or state.status not in PAGING:
        return Decision(state, (), "stale step")
    return _skip_level(state, now, "no reachable device")


def on_receipt_timeout(state: DispatchState, step: int, now: datetime) -> Decision:
    """No device confirmed receipt of ``step``'s page in time: acceptance by APNs / FCM is
    not delivery, so fail over to the next level now instead of waiting out the ack timer."""
    require_aware(now)
    if step != state.step or state.status is not DispatchStatus.SENT:
        return Decision(state, (), "stale timer")
    return _skip_level(state, now, "no device receipt")


def _skip_level(state: DispatchState, now: datetime, reason: str) -> Decision:
    """Escalate past the rest of the current level, cancelling its timers."""
    return enter_step(
        state,
        next_level(state),
        Trigger.ESCALATED,
        now,
        actor=SYSTEM_ACTOR,
        lead=(CancelTimers(),),
        detail=f"{reason} at {state.current_step.level_name}",
        reason=reason,
    )


def on_cancel(state: DispatchState, actor: str, now: datetime) -> Decision:
    """Withdraw the message (e.g. the caller reached someone): stop every timer."""
    require_aware(now)
    try:
        return move(
            state,
            Trigger.CANCELLED,
            now,
            actor=actor,
            detail="cancelled",
            effects=(CancelTimers(),),
        )
    except IllegalTransition as exc:
        return refuse(state, Trigger.CANCELLED, actor, f"illegal transition: {exc}")


def on_ack(
    state: DispatchState, kind: AckKind, clinician_id: str, event_id: str, now: datetime
) -> Decision:
    """A receipt, acceptance, decline or callback report from a device or the desk."""
    require_aware(now)
    if event_id in state.processed_event_ids:
        return Decision(state, (), "duplicate")
    trigger = Trigger(kind)
    try:
        decision = handle_ack(state, trigger, clinician_id, now)
    except IllegalTransition as exc:
        return refuse(state, trigger, clinician_id, f"illegal transition: {exc}")
    if decision.state is state:
        return decision
    seen = (*decision.state.processed_event_ids, event_id)[-MAX_PROCESSED_EVENT_IDS:]
    return replace(decision, state=replace(decision.state, processed_event_ids=seen))
