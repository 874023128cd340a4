"""Escalation plans: unrolled steps per level, the operator step last, JSON round trip."""

from __future__ import annotations

import json

import pytest

from engine.domain.escalation import EscalationPlan, PlanStep, build_plan
from engine.domain.practice import Practice
from engine.schemas.intake import Urgency
from tests.unit.dispatch_factories import DESK, chain, plan, policy

# (level_name, attempt, targets, timeout_seconds) per step
Row = tuple[str, int, tuple[str, ...], float | None]
OP: Row = ("operator", 1, (DESK,), 60.0)  # the desk's re-alert interval

BUILD_PLAN = [
    ("repeats-0", (("dr-a",), ("dr-b",)), 60, 0, [
        ("primary", 1, ("dr-a",), 60.0), ("backup", 1, ("dr-b",), 60.0), OP,
    ]),
    ("repeats-1", (("dr-a",), ("dr-b",)), 300, 1, [
        ("primary", 1, ("dr-a",), 300.0), ("primary", 2, ("dr-a",), 300.0),
        ("backup", 1, ("dr-b",), 300.0), ("backup", 2, ("dr-b",), 300.0), OP,
    ]),
    ("repeats-3-one-level", (("dr-a", "dr-c"),), 120, 3, [
        ("primary", 1, ("dr-a", "dr-c"), 120.0), ("primary", 2, ("dr-a", "dr-c"), 120.0),
        ("primary", 3, ("dr-a", "dr-c"), 120.0), ("primary", 4, ("dr-a", "dr-c"), 120.0), OP,
    ]),
    ("sub-minute-timeout", (("dr-a",),), 0.5, 1, [
        ("primary", 1, ("dr-a",), 0.5), ("primary", 2, ("dr-a",), 0.5), OP,
    ]),
    ("only-operator", (), 60, 2, [OP]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("levels", "timeout", "repeats", "expected"),
    [case[1:] for case in BUILD_PLAN],
    ids=[case[0] for case in BUILD_PLAN],
)
def test_build_plan(
    levels: tuple[tuple[str, ...], ...], timeout: float, repeats: int, expected: list[Row]
) -> None:
    built = build_plan(chain(*levels), policy(timeout, repeats))
    rows = [(s.level_name, s.attempt, s.targets, s.timeout_seconds) for s in built.steps]
    assert rows == expected
    assert [s.index for s in built.steps] == list(range(len(expected)))
    assert [s.is_operator for s in built.steps] == [False] * (len(expected) - 1) + [True]
    assert built.operator_step == built.steps[-1]
    assert built.operator_step.level == len(levels)


def test_plan_from_a_practice_policy() -> None:
    clinic = Practice(practice_id="prac-1", name="Synthetic Clinic", timezone="UTC")
    built = build_plan(chain(("dr-a",)), clinic.policy_for(Urgency.EMERGENCY))
    assert [(s.attempt, s.timeout_seconds) for s in built.steps[:-1]] == [(1, 60), (2, 60), (3, 60)]


TWO_LEVELS = plan(("dr-a",), ("dr-b",), repeats=2)  # steps: a1 a2 a3 b1 b2 b3 desk

NEXT_LEVEL_START = [
    ("first-attempt", 0, 3),
    ("last-attempt-of-primary", 2, 3),
    ("backup", 4, 6),
    ("last-backup-to-operator", 5, 6),
    ("operator-has-none", 6, None),
]


@pytest.mark.parametrize(
    ("step", "expected"),
    [c[1:] for c in NEXT_LEVEL_START],
    ids=[c[0] for c in NEXT_LEVEL_START],
)
def test_next_level_start(step: int, expected: int | None) -> None:
    assert TWO_LEVELS.next_level_start(step) == expected


@pytest.mark.parametrize("index", [-1, 7, 100], ids=["negative", "one-past", "far"])
def test_step_out_of_range(index: int) -> None:
    with pytest.raises(IndexError):
        TWO_LEVELS.step(index)


def test_step_by_index() -> None:
    assert TWO_LEVELS.step(4) == TWO_LEVELS.steps[4]
    assert (TWO_LEVELS.step(4).level_name, TWO_LEVELS.step(4).attempt) == ("backup", 2)


@pytest.mark.parametrize(
    "built",
    [TWO_LEVELS, plan(timeout=0.25), plan(("dr-a", "dr-b"), timeout=0.5, repeats=0)],
    ids=["two-levels", "operator-only", "sub-second"],
)
def test_json_round_trip(built: EscalationPlan) -> None:
    data = json.loads(json.dumps(built.to_dict()))
    assert EscalationPlan.from_dict(data) == built
    assert PlanStep.from_dict(data["steps"][0]) == built.steps[0]


def _step(index: int, level: int = 0, *, operator: bool = False) -> PlanStep:
    return PlanStep(index, level, "x", 1, ("dr-a",), 60.0, is_operator=operator)


INVALID_PLANS = [
    ("empty", ()),
    ("no-operator", (_step(0),)),
    ("operator-not-last", (_step(0, operator=True), _step(1, 1, operator=True))),
    ("indexes-out-of-order", (_step(1), _step(0, 1, operator=True))),
    ("levels-backwards", (_step(0, 1), _step(1, 0), _step(2, 2, operator=True))),
]


@pytest.mark.parametrize("steps", [c[1] for c in INVALID_PLANS], ids=[c[0] for c in INVALID_PLANS])
def test_invalid_plans(steps: tuple[PlanStep, ...]) -> None:
    with pytest.raises(ValueError):
        EscalationPlan(steps)


INVALID_STEPS = [
    ("desk-without-its-id", {"targets": (), "is_operator": True}),
    ("zero-timeout", {"timeout_seconds": 0.0}),
    ("negative-read-grace", {"read_grace_seconds": -1.0}),
    ("attempt-zero", {"attempt": 0}),
]


@pytest.mark.parametrize("change", [c[1] for c in INVALID_STEPS], ids=[c[0] for c in INVALID_STEPS])
def test_invalid_steps(change: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "index": 0, "level": 0, "level_name": "primary", "attempt": 1,
        "targets": ("dr-a",), "timeout_seconds": 60.0, "is_operator": False,
    }  # fmt: skip
    with pytest.raises(ValueError):
        PlanStep(**(fields | change))  # type: ignore[arg-type]
