"""Builders for escalation chains, plans and dispatches in unit tests.

Synthetic ids only: clinicians are ``dr-*``, the desk is ``desk-night``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from engine.domain.dispatch import (
    AckKind,
    Decision,
    DispatchState,
    PagePerson,
    on_ack,
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
    "later",
    "paged_ids",
    "plan",
    "policy",
    "started",
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


def plan(*levels: tuple[str, ...], timeout: float = 60, repeats: int = 1) -> EscalationPlan:
    return build_plan(chain(*levels), policy(timeout, repeats))


def started(
    *levels: tuple[str, ...], timeout: float = 60, repeats: int = 1, **kwargs: Any
) -> Decision:
    """A dispatch started at ``T0`` (default: primary dr-a, backup dr-b)."""
    levels = levels or (("dr-a",), ("dr-b",))
    return start_dispatch(
        kwargs.get("dispatch_id", "dsp-1"),
        kwargs.get("practice_id", "prac-1"),
        kwargs.get("urgency", Urgency.URGENT),
        plan(*levels, timeout=timeout, repeats=repeats),
        kwargs.get("now", T0),
    )


def ack(
    state: DispatchState,
    kind: AckKind,
    who: str,
    at: float = 1,
    event_id: str | None = None,
) -> Decision:
    """``on_ack`` ``at`` seconds after ``T0`` with a fresh event id unless one is given."""
    return on_ack(state, kind, who, event_id or f"evt-{next(_event_ids)}", later(at))


def effects(decision: Decision, kind: type[E]) -> list[E]:
    return [e for e in decision.effects if isinstance(e, kind)]


def paged_ids(decision: Decision) -> list[str]:
    return [e.clinician_id for e in effects(decision, PagePerson)]
