"""Escalation plans: the paging steps of one dispatch, frozen when the dispatch starts.

A plan unrolls an :class:`EscalationChain` with the practice's
:class:`EscalationPolicy` for the message's urgency. Each clinician level gets
``1 + repeats`` steps (the page, then re-pages of the same targets), each waiting
``ack_timeout_seconds`` for an acknowledgement. The operator desk is the last step,
one step with no timeout: it waits for a human, so no timer ever fires there.

Plans are stored with the dispatch (``to_dict`` / ``from_dict`` give plain JSON), so
a schedule or policy edit never changes a dispatch that is already running.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from engine.domain.oncall import EscalationChain
from engine.domain.practice import EscalationPolicy

__all__ = ["EscalationPlan", "PlanStep", "build_plan"]


@dataclass(frozen=True)
class PlanStep:
    """One page (or re-page) of one level; ``attempt`` counts pages within the level from 1."""

    index: int
    level: int
    level_name: str
    attempt: int
    targets: tuple[str, ...]
    timeout_seconds: float | None
    is_operator: bool

    def __post_init__(self) -> None:
        if self.index < 0 or self.level < 0 or self.attempt < 1:
            raise ValueError(f"plan step {self.index}: bad index, level or attempt")
        if not self.targets:
            raise ValueError(f"plan step {self.index} has no targets")
        if self.is_operator != (self.timeout_seconds is None):
            raise ValueError(f"plan step {self.index}: exactly the operator step has no timeout")
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
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
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanStep:
        timeout = data["timeout_seconds"]
        return cls(
            index=int(data["index"]),
            level=int(data["level"]),
            level_name=str(data["level_name"]),
            attempt=int(data["attempt"]),
            targets=tuple(str(t) for t in data["targets"]),
            timeout_seconds=None if timeout is None else float(timeout),
            is_operator=bool(data["is_operator"]),
        )


@dataclass(frozen=True)
class EscalationPlan:
    """Steps in paging order; never empty, the operator step last and only last."""

    steps: tuple[PlanStep, ...]
    stop_on_read: bool = False  # the policy counts "read" as acknowledgement

    def __post_init__(self) -> None:
        if not self.steps or not self.steps[-1].is_operator:
            raise ValueError("an escalation plan must end with the operator step")
        if any(s.is_operator for s in self.steps[:-1]):
            raise ValueError("the operator step must be the last step")
        if [s.index for s in self.steps] != list(range(len(self.steps))):
            raise ValueError("plan step indexes must be 0, 1, 2, ... in order")
        if any(b.level < a.level for a, b in pairwise(self.steps)):
            raise ValueError("plan levels must not go backwards")

    def step(self, i: int) -> PlanStep:
        """Step ``i``; ``IndexError`` when the plan has no such step (negatives included)."""
        if not 0 <= i < len(self.steps):
            raise IndexError(f"plan has no step {i} (it has {len(self.steps)})")
        return self.steps[i]

    def next_level_start(self, i: int) -> int | None:
        """The first step of the level after step ``i``'s; None after the operator step."""
        level = self.step(i).level
        return next((s.index for s in self.steps[i + 1 :] if s.level > level), None)

    @property
    def operator_step(self) -> PlanStep:
        return self.steps[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [s.to_dict() for s in self.steps], "stop_on_read": self.stop_on_read}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EscalationPlan:
        steps = tuple(PlanStep.from_dict(s) for s in data["steps"])
        return cls(steps, bool(data.get("stop_on_read", False)))


def build_plan(chain: EscalationChain, policy: EscalationPolicy) -> EscalationPlan:
    """Unroll ``chain``: ``1 + repeats`` steps per clinician level, then the operator step.

    A level's own timeout and repeats (from a schedule policy) win over ``policy``,
    the practice-wide default for the urgency.
    """
    steps: list[PlanStep] = []
    for level_index, level in enumerate(chain.levels):
        repeats = level.repeats if level.repeats is not None else policy.repeats
        own = level.ack_timeout_seconds
        attempts = 1 if level.is_operator else 1 + repeats
        timeout = (
            None
            if level.is_operator
            else float(own if own is not None else policy.ack_timeout_seconds)
        )
        for attempt in range(1, attempts + 1):
            steps.append(
                PlanStep(
                    index=len(steps),
                    level=level_index,
                    level_name=level.name,
                    attempt=attempt,
                    targets=level.targets,
                    timeout_seconds=timeout,
                    is_operator=level.is_operator,
                )
            )
    return EscalationPlan(tuple(steps), stop_on_read=chain.stop_on_read)
