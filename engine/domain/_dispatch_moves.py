"""Building blocks of the dispatch decisions (private; see :mod:`engine.domain.dispatch`).

``move`` applies one trigger through the transition table and emits the audit entry
and ``StateChanged`` that go with every change; ``enter_step`` moves a dispatch to a
plan step, paging its targets or handing over to the operator desk; ``refuse`` is the
"nothing changes, but write it down" answer.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from engine.domain.dispatch_state import (
    AuditEntry,
    Decision,
    DispatchState,
    Effect,
    NotifyOperatorDesk,
    PagePerson,
    ScheduleTimer,
    StateChanged,
)
from engine.domain.state_machine import Trigger, next_status

__all__ = ["SYSTEM_ACTOR", "enter_step", "move", "next_level", "refuse", "require_aware"]

SYSTEM_ACTOR = "system"
"""The audit actor of decisions nobody made by hand (start, timers, push failures)."""


def require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("dispatch decisions need a timezone-aware datetime")


def move(
    state: DispatchState,
    trigger: Trigger,
    now: datetime,
    *,
    actor: str,
    detail: str,
    effects: tuple[Effect, ...] = (),
    created: bool = False,
    **changes: Any,
) -> Decision:
    """Apply ``trigger`` (raises ``IllegalTransition``), bump the version, audit, publish.

    ``created`` marks the first change of a new dispatch: its ``from_status`` is None.
    """
    to = next_status(state.status, trigger)
    new = replace(state, status=to, version=state.version + 1, updated_at=now, **changes)
    before = None if created else state.status
    audit = AuditEntry(
        trigger.value, actor, None if before is None else before.value, to.value, new.step, detail
    )
    return Decision(new, (*effects, audit, StateChanged(before, to, new.step, trigger)))


def refuse(state: DispatchState, trigger: Trigger, actor: str, reason: str) -> Decision:
    """No change; one audit entry saying what was refused and why."""
    status = state.status.value
    audit = AuditEntry(f"{trigger.value}_refused", actor, status, status, state.step, reason)
    return Decision(state, (audit,), reason)


def _level_after(state: DispatchState, index: int) -> int:
    following = state.plan.next_level_start(index)
    return state.plan.operator_step.index if following is None else following


def next_level(state: DispatchState) -> int:
    """The first step of the level after the current step's (the operator step at the latest)."""
    return _level_after(state, state.step)


def _open_step(state: DispatchState, index: int) -> int:
    """``index``, or the first later level whose targets have not all declined already."""
    while True:
        step = state.plan.step(index)
        if step.is_operator or not set(step.targets) <= set(state.declined_by):
            return index
        index = _level_after(state, index)


def enter_step(
    state: DispatchState,
    index: int,
    trigger: Trigger,
    now: datetime,
    *,
    actor: str,
    detail: str,
    reason: str,
    lead: tuple[Effect, ...] = (),
    created: bool = False,
) -> Decision:
    """Move to step ``index`` with ``trigger``: page its targets (skipping anyone who
    declined) and set its timer; at the operator step, hand over to the desk instead
    (trigger ``handed_to_operator``, desk notified with ``reason``, no timer)."""
    index = _open_step(state, index)
    target = state.plan.step(index)
    if target.is_operator or target.timeout_seconds is None:
        notify = NotifyOperatorDesk(target.targets[0], reason)
        return move(
            state,
            Trigger.HANDED_TO_OPERATOR,
            now,
            actor=actor,
            detail=f"{detail}; handed to the operator desk",
            effects=(*lead, notify),
            created=created,
            step=index,
        )
    to_page = tuple(t for t in target.targets if t not in state.declined_by)
    pages = tuple(PagePerson(index, target.attempt, t) for t in to_page)
    timer = ScheduleTimer(index, now + timedelta(seconds=target.timeout_seconds))
    return move(
        state,
        trigger,
        now,
        actor=actor,
        detail=f"{detail}; paging {target.level_name} #{target.attempt}",
        effects=(*lead, *pages, timer),
        created=created,
        step=index,
        paged=tuple(dict.fromkeys((*state.paged, *to_page))),
    )
