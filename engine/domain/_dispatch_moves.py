"""Building blocks of the dispatch decisions (private; see :mod:`engine.domain.dispatch`).

``move`` applies one trigger through the transition table and emits the audit entry
and ``StateChanged`` that go with every change; ``enter_step`` moves a dispatch to a
plan step: it resolves the people of a level when the level starts, pages them with
the next page number and sets that page's timers, or hands over to the operator desk.
``refuse`` is the "nothing changes, but write it down" answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from engine.domain.dispatch_state import (
    AuditEntry,
    CancelTimer,
    Decision,
    DispatchState,
    Effect,
    NotifyOperatorDesk,
    PagePerson,
    ScheduleTimer,
    StateChanged,
)
from engine.domain.escalation import PlanStep
from engine.domain.oncall import ResolvedLevel
from engine.domain.state_machine import Trigger, next_status

__all__ = [
    "SYSTEM_ACTOR",
    "Resolver",
    "cancel_timers",
    "desk_alert",
    "enter_step",
    "move",
    "next_level",
    "refuse",
    "require_aware",
]

SYSTEM_ACTOR = "system"
"""The audit actor of decisions nobody made by hand (start, timers, push failures)."""

_DETAIL_MAX = 300

Resolver = Callable[[int, datetime], ResolvedLevel | None]
"""Who plan level ``n`` pages at an instant; None when that cannot be known now (the
practice is gone): then the people resolved when the dispatch started are paged."""


def require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("dispatch decisions need a timezone-aware datetime")


def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 3] + "..."


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
        trigger.value,
        actor,
        None if before is None else before.value,
        to.value,
        new.step,
        _clip(detail),
    )
    return Decision(new, (*effects, audit, StateChanged(before, to, new.step, trigger)))


def refuse(state: DispatchState, trigger: Trigger, actor: str, reason: str) -> Decision:
    """No change; one audit entry saying what was refused and why."""
    status = state.status.value
    audit = AuditEntry(f"{trigger.value}_refused", actor, status, status, state.step, reason)
    return Decision(state, (audit,), reason)


def cancel_timers(state: DispatchState) -> tuple[Effect, ...]:
    """Drop the timers of the latest page (a new page or an end makes them void)."""
    found: list[Effect] = []
    if state.ack_due_at is not None:
        found.append(CancelTimer(state.step, state.page, "ack"))
    if state.receipt_due_at is not None:
        found.append(CancelTimer(state.step, state.page, "receipt"))
    return tuple(found)


def _level_after(state: DispatchState, index: int) -> int:
    following = state.plan.next_level_start(index)
    return state.plan.operator_step.index if following is None else following


def next_level(state: DispatchState) -> int:
    """The first step of the level after the current step's (the operator step at the latest)."""
    return _level_after(state, state.step)


def _people(
    state: DispatchState, step: PlanStep, now: datetime, resolve: Resolver | None
) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """Who ``step`` pages (a level's first page resolves the level now; re-pages page its
    people again, less anyone who declined), the level's people, and the audit reason."""
    if step.attempt > 1:
        level = state.level_targets
        return tuple(p for p in level if p not in state.declined_by), level, ""
    found = resolve(step.level, now) if resolve is not None else None
    if found is None:
        people, why = step.targets, "as resolved at the start"
    else:
        people, why = found.people, "; ".join(found.why)
    fresh = tuple(p for p in people if p not in state.paged and p not in state.declined_by)
    return fresh, fresh, why


def enter_step(
    state: DispatchState,
    index: int,
    trigger: Trigger,
    now: datetime,
    *,
    actor: str,
    detail: str,
    reason: str,
    resolve: Resolver | None = None,
    created: bool = False,
) -> Decision:
    """Move to step ``index`` with ``trigger``: page its people with the next page number
    and set that page's acknowledgement timer (and receipt timer, when the page needs
    one). A level whose people nobody is left to page is skipped. At the operator step,
    hand over to the desk instead (trigger ``handed_to_operator``, desk alerted with
    ``reason``, the desk's own re-alert timer)."""
    notes: list[str] = []
    while True:
        step = state.plan.step(index)
        if step.is_operator:
            note = "; ".join([detail, *notes, "handed to the operator desk"])
            alert = desk_alert(state, index, reason, now)
            effects = (*cancel_timers(state), *alert.effects)
            return move(
                state,
                Trigger.HANDED_TO_OPERATOR,
                now,
                actor=actor,
                detail=note,
                effects=effects,
                created=created,
                **alert.changes,
            )
        to_page, level, why = _people(state, step, now, resolve)
        if to_page:
            break
        notes.append(f"nobody to page at {step.level_name}")
        index = _level_after(state, index)
    page = state.page + 1
    first = step.attempt == 1
    level_received = () if first else state.level_received
    ack_due = now + timedelta(seconds=step.timeout_seconds)
    receipt_due = _receipt_due(state, step, to_page, level_received, now)
    timers: list[Effect] = [ScheduleTimer(index, ack_due, page, "ack")]
    if receipt_due is not None:
        timers.append(ScheduleTimer(index, receipt_due, page, "receipt"))
    pages = tuple(PagePerson(index, step.attempt, who, page) for who in to_page)
    paging = f"paging {step.level_name} #{step.attempt}: {', '.join(to_page)}"
    return move(
        state,
        trigger,
        now,
        actor=actor,
        detail="; ".join([detail, *notes, f"{paging} ({why})" if why else paging]),
        effects=(*cancel_timers(state), *pages, *timers),
        created=created,
        step=index,
        page=page,
        level_page=page if first else state.level_page,
        targets=level,
        page_targets=to_page,
        received=(),
        level_received=level_received,
        ack_due_at=ack_due,
        receipt_due_at=receipt_due,
        grace_used=False,
        paged=tuple(dict.fromkeys((*state.paged, *to_page))),
    )


def _receipt_due(
    state: DispatchState,
    step: PlanStep,
    to_page: tuple[str, ...],
    level_received: tuple[str, ...],
    now: datetime,
) -> datetime | None:
    """A page needs a receipt deadline when it is shorter than the page's ack timeout and
    someone paged has not yet confirmed a page of this level (a re-page of a phone that
    confirmed the first page must not fail over early because the app shows it once)."""
    seconds = state.plan.receipt_timeout_seconds
    if not seconds or seconds >= step.timeout_seconds:
        return None
    if set(to_page) <= set(level_received):
        return None
    return now + timedelta(seconds=seconds)


class _DeskAlert:
    """The effects and state changes of alerting the desk with a new page number."""

    def __init__(self, effects: tuple[Effect, ...], changes: dict[str, Any]) -> None:
        self.effects = effects
        self.changes = changes


def desk_alert(state: DispatchState, index: int, reason: str, now: datetime) -> _DeskAlert:
    """Alert the desk of step ``index`` (again), set its re-alert timer, and page again
    every clinician no push has reached yet (their provider may be back)."""
    step = state.plan.step(index)
    page = state.page + 1
    alert = state.desk_alerts + 1
    due = now + timedelta(seconds=step.timeout_seconds)
    again = state.unreached if state.desk_alerts else ()  # the hand-off itself just failed
    effects: tuple[Effect, ...] = (
        NotifyOperatorDesk(step.targets[0], reason, page, alert),
        *(PagePerson(index, alert, who, page) for who in again),
        ScheduleTimer(index, due, page, "ack"),
    )
    changes: dict[str, Any] = {
        "step": index,
        "page": page,
        "level_page": page if not state.desk_alerts else state.level_page,
        "page_targets": again,
        "received": (),
        "ack_due_at": due,
        "receipt_due_at": None,
        "grace_used": False,
        "desk_alerts": alert,
    }
    return _DeskAlert(effects, changes)
