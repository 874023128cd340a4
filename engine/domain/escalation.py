"""Escalation plans: the paging steps of one dispatch, frozen when the dispatch starts.

A plan unrolls the practice's policy for the message's urgency (:func:`dispatch_plan`).
Each clinician level gets ``1 + repeats`` steps (the page, then re-pages of the same
people), each waiting ``ack_timeout_seconds`` for an acceptance. The operator desk is
the last step: it is alerted, and re-alerted every ``desk_timeout_seconds`` until an
operator claims the message, so no message rests with nobody.

The *policy* is frozen (levels, timeouts, repeats, the receipt deadline, the read
grace); the *people* of a level are resolved when that level starts, from the level's
:class:`~engine.domain.oncall.LevelSpec` kept in the plan. ``PlanStep.targets`` is the
snapshot taken at the start: what is shown by ``schedule who``, and the fallback when the
practice can no longer be read. Plans are stored with the dispatch (``to_dict`` /
``from_dict`` give plain JSON).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise
from typing import Any

from engine.domain.oncall import (
    EscalationChain,
    LevelSpec,
    ResolvedLevel,
    policy_levels,
    resolve_level,
)
from engine.domain.practice import EscalationPolicy, Practice
from engine.schemas.intake import Urgency

__all__ = [
    "DEFAULT_DESK_TIMEOUT_S",
    "EscalationPlan",
    "PlanStep",
    "build_plan",
    "dispatch_plan",
    "level_resolver",
]

DEFAULT_DESK_TIMEOUT_S = 60.0
"""How long the operator desk has to claim an alert before it is alerted again."""


@dataclass(frozen=True)
class PlanStep:
    """One page (or re-page) of one level; ``attempt`` counts pages within the level from 1.

    ``targets`` is who the level held when the dispatch started (may be empty: the
    level is resolved again when it starts). The operator step's timeout is the desk's
    re-alert interval. ``read_grace_seconds`` is how long a read pauses re-paging.
    """

    index: int
    level: int
    level_name: str
    attempt: int
    targets: tuple[str, ...]
    timeout_seconds: float
    is_operator: bool
    read_grace_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.index < 0 or self.level < 0 or self.attempt < 1:
            raise ValueError(f"plan step {self.index}: bad index, level or attempt")
        if self.is_operator and not self.targets:
            raise ValueError(f"plan step {self.index}: the operator step needs its desk")
        if self.timeout_seconds <= 0 or self.read_grace_seconds < 0:
            raise ValueError(f"plan step {self.index}: timeout must be positive")

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "level": self.level,
            "level_name": self.level_name,
            "attempt": self.attempt,
            "targets": list(self.targets),
            "timeout_seconds": self.timeout_seconds,
            "is_operator": self.is_operator,
            "read_grace_seconds": self.read_grace_seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanStep:
        timeout = data["timeout_seconds"]  # None: an operator step stored before desk timers
        return cls(
            index=int(data["index"]),
            level=int(data["level"]),
            level_name=str(data["level_name"]),
            attempt=int(data["attempt"]),
            targets=tuple(str(t) for t in data["targets"]),
            timeout_seconds=DEFAULT_DESK_TIMEOUT_S if timeout is None else float(timeout),
            is_operator=bool(data["is_operator"]),
            read_grace_seconds=float(data.get("read_grace_seconds", 0.0)),
        )


@dataclass(frozen=True)
class EscalationPlan:
    """Steps in paging order; never empty, the operator step last and only last.

    ``levels`` holds the frozen policy level by level (empty in plans built from a
    chain alone: those page their snapshot). ``receipt_timeout_seconds``: without a
    device receipt that long after a page, fail over to the next level (None: off).
    """

    steps: tuple[PlanStep, ...]
    levels: tuple[LevelSpec, ...] = ()
    receipt_timeout_seconds: float | None = None

    def __post_init__(self) -> None:
        if not self.steps or not self.steps[-1].is_operator:
            raise ValueError("an escalation plan must end with the operator step")
        if any(s.is_operator for s in self.steps[:-1]):
            raise ValueError("the operator step must be the last step")
        if [s.index for s in self.steps] != list(range(len(self.steps))):
            raise ValueError("plan step indexes must be 0, 1, 2, ... in order")
        if any(b.level < a.level for a, b in pairwise(self.steps)):
            raise ValueError("plan levels must not go backwards")
        if self.levels and len(self.levels) != self.steps[-1].level + 1:
            raise ValueError("a plan's level specs must match its levels")

    def step(self, i: int) -> PlanStep:
        """Step ``i``; ``IndexError`` when the plan has no such step (negatives included)."""
        if not 0 <= i < len(self.steps):
            raise IndexError(f"plan has no step {i} (it has {len(self.steps)})")
        return self.steps[i]

    def next_level_start(self, i: int) -> int | None:
        """The first step of the level after step ``i``'s; None after the operator step."""
        level = self.step(i).level
        return next((s.index for s in self.steps[i + 1 :] if s.level > level), None)

    def level_spec(self, level: int) -> LevelSpec | None:
        """How to resolve ``level``'s people (None: page the snapshot)."""
        return self.levels[level] if self.levels else None

    @property
    def operator_step(self) -> PlanStep:
        return self.steps[-1]

    @property
    def seconds_before_desk(self) -> float:
        """How long the clinician levels page, each page and re-page unanswered for its
        whole timeout, before the operator desk is alerted."""
        return sum(step.timeout_seconds for step in self.steps[:-1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": [s.to_dict() for s in self.steps],
            "levels": [spec.to_dict() for spec in self.levels],
            "receipt_timeout_seconds": self.receipt_timeout_seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EscalationPlan:
        steps = tuple(PlanStep.from_dict(s) for s in data["steps"])
        if data.get("stop_on_read"):  # stored before a read stopped nothing: a grace now
            steps = tuple(_with_grace(s) for s in steps)
        levels = tuple(LevelSpec.from_dict(spec) for spec in data.get("levels", ()))
        receipt = data.get("receipt_timeout_seconds")
        return cls(steps, levels, None if receipt is None else float(receipt))


def _with_grace(step: PlanStep) -> PlanStep:
    """``step`` of a plan stored under ``stop_on: read``: a read pauses one timeout."""
    if step.is_operator or step.read_grace_seconds:
        return step
    return replace(step, read_grace_seconds=step.timeout_seconds)


def _unroll(
    levels: list[tuple[LevelSpec, tuple[str, ...]]],
    policy: EscalationPolicy,
    desk_timeout_seconds: float,
    read_grace: float | None,
) -> tuple[PlanStep, ...]:
    """``1 + repeats`` steps per clinician level, then one desk step.

    A level's own timeout and repeats win over ``policy``, the practice-wide default
    for the urgency. ``read_grace`` None means a read pauses re-paging for one timeout.
    """
    steps: list[PlanStep] = []
    for level_index, (spec, targets) in enumerate(levels):
        if spec.is_operator:
            steps.append(
                PlanStep(len(steps), level_index, spec.name, 1, targets, desk_timeout_seconds, True)
            )
            continue
        repeats = spec.repeats if spec.repeats is not None else policy.repeats
        own = spec.ack_timeout_seconds
        timeout = float(own if own is not None else policy.ack_timeout_seconds)
        grace = timeout if read_grace is None else read_grace
        for attempt in range(1, repeats + 2):
            steps.append(
                PlanStep(
                    len(steps), level_index, spec.name, attempt, targets, timeout, False, grace
                )
            )
    return tuple(steps)


def build_plan(
    chain: EscalationChain,
    policy: EscalationPolicy,
    *,
    desk_timeout_seconds: float = DEFAULT_DESK_TIMEOUT_S,
    receipt_timeout_seconds: float | None = None,
) -> EscalationPlan:
    """The plan of a chain resolved at one instant (its people fixed for every level)."""
    levels = [
        (level.spec or LevelSpec(level.name, ack_timeout_seconds=level.ack_timeout_seconds,
                                 repeats=level.repeats,
                                 desk_id=level.targets[0] if level.is_operator else None),
         level.targets)
        for level in chain.levels
    ]  # fmt: skip
    steps = _unroll(levels, policy, desk_timeout_seconds, chain.read_grace)
    return EscalationPlan(steps, (), receipt_timeout_seconds)


def dispatch_plan(
    practice: Practice,
    urgency: Urgency,
    group_id: str | None,
    at: datetime,
    *,
    desk_timeout_seconds: float = DEFAULT_DESK_TIMEOUT_S,
    receipt_timeout_seconds: float | None = None,
) -> EscalationPlan:
    """The plan a dispatch starting at ``at`` freezes: every level of the urgency's
    policy (also those nobody covers now: they are resolved again when they start),
    with the people each holds now as the snapshot."""
    policy = policy_levels(practice, urgency, group_id)
    levels: list[tuple[LevelSpec, tuple[str, ...]]] = []
    paged: set[str] = set()
    for spec in policy.levels:
        people = tuple(p for p in resolve_level(practice, spec, at).people if p not in paged)
        paged.update(people)
        levels.append((spec, people))
    steps = _unroll(levels, practice.policy_for(urgency), desk_timeout_seconds, policy.read_grace)
    return EscalationPlan(steps, policy.levels, receipt_timeout_seconds)


def level_resolver(
    practice: Practice | None, plan: EscalationPlan
) -> Callable[[int, datetime], ResolvedLevel | None]:
    """Who each level of ``plan`` pages at an instant, under ``practice`` as it is now.

    None for a level when that cannot be answered (no practice any more, a plan without
    level specs, a spec the edited practice no longer resolves): the dispatch then pages
    the people it resolved when it started, never nobody.
    """

    def resolve(level: int, at: datetime) -> ResolvedLevel | None:
        spec = plan.level_spec(level)
        if practice is None or spec is None:
            return None
        try:
            return resolve_level(practice, spec, at)
        except (KeyError, ValueError, IndexError):
            return None

    return resolve
