"""Dispatch decisions: pure calculators from (state, input, now) to a :class:`Decision`.

Each function takes the stored :class:`DispatchState` and returns the next state plus
the effects to carry out (page, schedule, cancel, alert the desk, transfer a call,
audit, publish). Nothing here reads a clock or does I/O; who a level pages is asked of
a :data:`Resolver` (a pure function of the practice) when the level starts. Every change
bumps ``version`` by one and emits exactly one ``AuditEntry`` and one ``StateChanged``.
Stale timers and duplicate event ids change nothing and emit nothing; other refused
inputs (illegal transition, someone not paged) change nothing and emit one audit entry.

Nothing ends in silence: a dispatch ends only when a clinician accepts it or an operator
at the desk claims it (or a human cancels it); the desk is re-alerted until then. The
data types live in :mod:`engine.domain.dispatch_state`; the shared moves and the
acknowledgement handlers are in private modules.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Literal

from engine.domain._dispatch_acks import Actor, handle_ack
from engine.domain._dispatch_moves import (
    SYSTEM_ACTOR,
    Resolver,
    cancel_timers,
    desk_alert,
    enter_step,
    move,
    next_level,
    refuse,
    require_aware,
)
from engine.domain.dispatch_state import (
    MAX_PROCESSED_EVENT_IDS,
    AuditEntry,
    CancelTimer,
    Decision,
    DispatchState,
    Effect,
    NotifyOperatorDesk,
    PagePerson,
    ScheduleTimer,
    StateChanged,
    TransferCall,
)
from engine.domain.escalation import DEFAULT_DESK_TIMEOUT_S, EscalationPlan, PlanStep
from engine.domain.state_machine import PAGING, DispatchStatus, IllegalTransition, Trigger
from engine.schemas.intake import Urgency

__all__ = [
    "MAX_PROCESSED_EVENT_IDS",
    "SYSTEM_ACTOR",
    "AckKind",
    "Actor",
    "AuditEntry",
    "CancelTimer",
    "Decision",
    "DispatchState",
    "Effect",
    "NotifyOperatorDesk",
    "PagePerson",
    "Resolver",
    "ScheduleTimer",
    "StateChanged",
    "TransferCall",
    "desk_only_plan",
    "on_ack",
    "on_ack_timeout",
    "on_cancel",
    "on_pages_failed",
    "on_receipt_timeout",
    "pending_deadline",
    "start_dispatch",
]

AckKind = Literal["received", "read", "accepted", "declined", "callback_completed"]

_DEADLINE_SLACK_S = 0.001  # timers are stored in milliseconds


def start_dispatch(
    dispatch_id: str,
    practice_id: str,
    urgency: Urgency,
    plan: EscalationPlan,
    now: datetime,
    *,
    resolve: Resolver | None = None,
    reason: str = "nobody on call",
    live_call_id: str | None = None,
) -> Decision:
    """Page the first level's people (resolved now) and set the page's timers; with
    nobody to page, go to the desk with ``reason``. With ``live_call_id`` (a caller
    waiting on the line), also patch the call through to the first person paged."""
    require_aware(now)
    pending = DispatchState(
        dispatch_id, practice_id, urgency, DispatchStatus.PENDING, plan, 0, 0, now, now
    )
    decision = enter_step(
        pending,
        0,
        Trigger.PAGE_SENT,
        now,
        actor=SYSTEM_ACTOR,
        detail="dispatch started",
        reason=reason,
        resolve=resolve,
        created=True,
    )
    pages = [e for e in decision.effects if isinstance(e, PagePerson)]
    if live_call_id is None or not pages:
        return decision
    transfer = TransferCall(live_call_id, pages[0].clinician_id)
    return replace(decision, effects=(transfer, *decision.effects))


def desk_only_plan(
    desk_id: str, desk_timeout_seconds: float = DEFAULT_DESK_TIMEOUT_S
) -> EscalationPlan:
    """A plan that goes straight to ``desk_id`` (intake nobody could dispatch)."""
    return EscalationPlan((PlanStep(0, 0, "operator", 1, (desk_id,), desk_timeout_seconds, True),))


def pending_deadline(
    state: DispatchState, now: datetime
) -> tuple[int, int | None, datetime] | None:
    """The acknowledgement deadline a dispatch nobody owns yet must have pending, as
    ``(step, page, due)``: its page's deadline, or ``now`` for a dispatch stored by an
    earlier version without one (a desk hand-off had no timer, and a read could stop
    the escalation), so that it is re-alerted or escalated at once. None when a person
    owns it or it has ended."""
    if state.status not in PAGING and state.status is not DispatchStatus.OPERATOR:
        return None
    if state.ack_due_at is not None:
        return state.step, state.page or None, state.ack_due_at
    return state.step, state.page or None, now


def _stale(state: DispatchState, step: int, page: int | None) -> bool:
    """A timer or failure report for another page (or, in the old form, another step)."""
    return page != state.page if page is not None else step != state.step


def on_ack_timeout(
    state: DispatchState,
    step: int,
    now: datetime,
    *,
    page: int | None = None,
    due_at: datetime | None = None,
    resolve: Resolver | None = None,
) -> Decision:
    """No acceptance of the latest page in time: re-page the level, page the next, or
    (at the desk, nobody having claimed it) alert the desk again."""
    require_aware(now)
    active = state.status in PAGING or state.status is DispatchStatus.OPERATOR
    if _stale(state, step, page) or not active:
        return Decision(state, (), "stale timer")
    moved = (
        state.ack_due_at is not None
        and due_at is not None
        and ((state.ack_due_at - due_at).total_seconds() > _DEADLINE_SLACK_S)
    )
    if moved:
        return Decision(state, (), "stale timer: the deadline moved")
    seconds = state.current_step.timeout_seconds
    if state.status is DispatchStatus.OPERATOR:
        alert = desk_alert(state, state.step, f"not claimed after {seconds:g}s", now)
        return move(
            state,
            Trigger.ACK_TIMEOUT,
            now,
            actor=SYSTEM_ACTOR,
            detail=f"desk did not claim in {seconds:g}s; re-alert #{state.desk_alerts + 1}",
            effects=alert.effects,
            **alert.changes,
        )
    return enter_step(
        state,
        state.step + 1,
        Trigger.ACK_TIMEOUT,
        now,
        actor=SYSTEM_ACTOR,
        detail=f"no ack after {seconds:g}s",
        reason="no acknowledgement",
        resolve=resolve,
    )


def on_pages_failed(
    state: DispatchState,
    step: int,
    clinicians: tuple[str, ...],
    now: datetime,
    *,
    page: int | None = None,
    resolve: Resolver | None = None,
) -> Decision:
    """No push of the latest page reached ``clinicians`` (no active device, provider
    down): remember them (the desk's re-alerts page them again), and when nobody of
    the page was reached, skip the rest of the level at once."""
    require_aware(now)
    if _stale(state, step, page) or state.status not in PAGING:
        return Decision(state, (), "stale step")
    failed = tuple(c for c in clinicians if c not in state.unreached)
    unreached = (*state.unreached, *failed)
    recorded = replace(state, unreached=unreached)
    nobody_left = {*clinicians, *state.declined_by}  # declined, or no push reached them
    if set(state.page_targets or state.level_targets) <= nobody_left:
        return _skip_level(recorded, now, "no reachable device", resolve)
    if not failed:
        return Decision(state, (), "stale step: already recorded")
    return move(
        recorded,
        Trigger.PAGE_FAILED,
        now,
        actor=SYSTEM_ACTOR,
        detail=f"no device reached {', '.join(failed)} (page {state.page})",
    )


def on_receipt_timeout(
    state: DispatchState,
    step: int,
    now: datetime,
    *,
    page: int | None = None,
    resolve: Resolver | None = None,
) -> Decision:
    """No device confirmed receipt of the latest page in time: acceptance by APNs / FCM
    is not delivery, so fail over to the next level now instead of waiting out the ack
    timer. Whoever did not confirm counts as unreached: the desk's re-alerts page them
    again."""
    require_aware(now)
    if _stale(state, step, page) or state.status is not DispatchStatus.SENT:
        return Decision(state, (), "stale timer")
    confirmed = {*state.received, *state.level_received}
    silent = [who for who in state.page_targets if who not in confirmed]
    unreached = tuple(dict.fromkeys((*state.unreached, *silent)))
    return _skip_level(replace(state, unreached=unreached), now, "no device receipt", resolve)


def _skip_level(
    state: DispatchState, now: datetime, reason: str, resolve: Resolver | None
) -> Decision:
    """Escalate past the rest of the current level."""
    return enter_step(
        state,
        next_level(state),
        Trigger.ESCALATED,
        now,
        actor=SYSTEM_ACTOR,
        detail=f"{reason} at {state.current_step.level_name}",
        reason=reason,
        resolve=resolve,
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
            effects=cancel_timers(state),
            ack_due_at=None,
            receipt_due_at=None,
        )
    except IllegalTransition as exc:
        return refuse(state, Trigger.CANCELLED, actor, f"illegal transition: {exc}")


def on_ack(
    state: DispatchState,
    kind: AckKind,
    actor: Actor | str,
    event_id: str,
    now: datetime,
    *,
    page: int | None = None,
    resolve: Resolver | None = None,
) -> Decision:
    """A receipt, acceptance, decline or callback report from a clinician's device
    (``actor`` a clinician id or :class:`Actor`), or a claim by an operator at the desk
    (``Actor(operator_id, desk_id)``); ``page`` is the page it answers (None: old form)."""
    require_aware(now)
    if event_id in state.processed_event_ids:
        return Decision(state, (), "duplicate")
    who = actor if isinstance(actor, Actor) else Actor(actor)
    trigger = Trigger(kind)
    try:
        decision = handle_ack(state, trigger, who, page, now, resolve)
    except IllegalTransition as exc:
        return refuse(state, trigger, who.id, f"illegal transition: {exc}")
    if decision.state is state:
        return decision
    seen = (*decision.state.processed_event_ids, event_id)[-MAX_PROCESSED_EVENT_IDS:]
    return replace(decision, state=replace(decision.state, processed_event_ids=seen))
