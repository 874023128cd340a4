"""Builders for escalation chains, plans and dispatches in unit tests.

Synthetic ids only: clinicians are ``dr-*``, the desk is ``desk-night``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from engine.domain.dispatch import (
    AckKind,
    Actor,
    Decision,
    DispatchState,
    PagePerson,
    ScheduleTimer,
    on_ack,
    on_ack_timeout,
    on_receipt_timeout,
    start_dispatch,
)
from engine.domain.escalation import EscalationPlan, build_plan
from engine.domain.oncall import EscalationChain, Level
from engine.domain.practice import EscalationPolicy
from engine.schemas.intake import Urgency

__all__ = [
    "DESK",
    "T0",
    "ack",
    "chain",
    "effects",
    "fire",
    "later",
    "paged_ids",
    "plan",
    "policy",
    "started",
    "timer",
]

T0 = datetime(2026, 3, 7, 3, 0, tzinfo=UTC)
DESK = "desk-night"
LEVEL_NAMES = ("primary", "backup", "tertiary", "quaternary")
E = TypeVar("E")
_event_ids = itertools.count(1)


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def chain(*levels: tuple[str, ...], desk: str = DESK) -> EscalationChain:
    """``chain(("dr-a",), ("dr-b", "dr-c"))``: primary, backup, ..., then the desk."""
    clinician_levels = tuple(Level(LEVEL_NAMES[i], targets) for i, targets in enumerate(levels))
    return EscalationChain((*clinician_levels, Level("operator", (desk,), is_operator=True)))


def policy(timeout: float = 60, repeats: int = 1) -> EscalationPolicy:
    return EscalationPolicy(ack_timeout_seconds=timeout, repeats=repeats)


def plan(
    *levels: tuple[str, ...],
    timeout: float = 60,
    repeats: int = 1,
    desk_timeout: float = 30,
    receipt_timeout: float | None = None,
) -> EscalationPlan:
    return build_plan(
        chain(*levels),
        policy(timeout, repeats),
        desk_timeout_seconds=desk_timeout,
        receipt_timeout_seconds=receipt_timeout,
    )


def started(
    *levels: tuple[str, ...],
    timeout: float = 60,
    repeats: int = 1,
    desk_timeout: float = 30,
    receipt_timeout: float | None = None,
    **kwargs: Any,
) -> Decision:
    """A dispatch started at ``T0`` (default: primary dr-a, backup dr-b; desk re-alerts
    every 30 s; no receipt deadline)."""
    levels = levels or (("dr-a",), ("dr-b",))
    built = plan(
        *levels,
        timeout=timeout,
        repeats=repeats,
        desk_timeout=desk_timeout,
        receipt_timeout=receipt_timeout,
    )
    return start_dispatch(
        kwargs.get("dispatch_id", "dsp-1"),
        kwargs.get("practice_id", "prac-1"),
        kwargs.get("urgency", Urgency.URGENT),
        built,
        kwargs.get("now", T0),
        resolve=kwargs.get("resolve"),
        live_call_id=kwargs.get("live_call_id"),
    )


def ack(
    state: DispatchState,
    kind: AckKind,
    who: str | Actor,
    at: float = 1,
    event_id: str | None = None,
    page: int | None = None,
) -> Decision:
    """``on_ack`` ``at`` seconds after ``T0`` with a fresh event id unless one is given;
    ``page`` defaults to the latest page (a version 2 app answering the push it got)."""
    answered = state.page if page is None else (page or None)
    eid = event_id or f"evt-{next(_event_ids)}"
    return on_ack(state, kind, who, eid, later(at), page=answered)


def timer(decision: Decision, kind: str = "ack") -> ScheduleTimer:
    """The one timer of ``kind`` that ``decision`` scheduled."""
    [found] = [e for e in decision.effects if isinstance(e, ScheduleTimer) and e.kind == kind]
    return found


def fire(decision: Decision, kind: str = "ack", resolve: Any = None) -> Decision:
    """Fire the timer of ``kind`` that ``decision`` scheduled, at its due time."""
    t = timer(decision, kind)
    if kind == "receipt":
        return on_receipt_timeout(decision.state, t.step, t.due_at, page=t.page, resolve=resolve)
    return on_ack_timeout(
        decision.state, t.step, t.due_at, page=t.page, due_at=t.due_at, resolve=resolve
    )


def effects(decision: Decision, kind: type[E]) -> list[E]:
    return [e for e in decision.effects if isinstance(e, kind)]


def paged_ids(decision: Decision) -> list[str]:
    return [e.clinician_id for e in effects(decision, PagePerson)]
