"""The policy-driven escalation chain: which policy an urgency borrows, its pace, and
targets that name a group the practice no longer has."""

from __future__ import annotations

from engine.domain.escalation import build_plan
from engine.domain.oncall import resolve_chain
from engine.domain.practice import Practice
from engine.domain.schedule import LevelTarget, PolicyLevel, SchedulePolicy
from engine.schemas.intake import Urgency
from tests.unit.schedule_factories import at, group, layer, schedule_practice

NOON = at("2026-01-07 12:00")


def _policy(timeout: float, repeats: int = 0, group_id: str | None = None) -> SchedulePolicy:
    target = LevelTarget(kind="role", role="primary", group_id=group_id)
    return SchedulePolicy(
        levels=[PolicyLevel(targets=[target], ack_timeout_seconds=timeout, repeats=repeats)]
    )


def _practice(policies: dict[Urgency, SchedulePolicy]) -> Practice:
    base = schedule_practice(group(layer(["dr-a"]), group_id="peds"))
    return base.model_copy(update={"escalation_policies": policies})


def test_an_urgency_uses_its_own_policy_and_pace() -> None:
    practice = _practice({Urgency.URGENT: _policy(45, repeats=2)})
    chain = resolve_chain(practice, NOON, Urgency.URGENT)
    first = chain.levels[0]
    assert (first.targets, first.ack_timeout_seconds, first.repeats) == (("dr-a",), 45, 2)


def test_a_higher_urgency_policy_is_borrowed_with_its_pace() -> None:
    practice = _practice({Urgency.EMERGENCY: _policy(20)})
    level = resolve_chain(practice, NOON, Urgency.URGENT).levels[0]
    assert (level.targets, level.ack_timeout_seconds) == (("dr-a",), 20)


def test_an_emergency_borrowing_the_routine_policy_keeps_the_emergency_pace() -> None:
    practice = _practice({Urgency.ROUTINE: _policy(1800, repeats=3)})
    chain = resolve_chain(practice, NOON, Urgency.EMERGENCY)
    level = chain.levels[0]
    assert level.targets == ("dr-a",)
    assert (level.ack_timeout_seconds, level.repeats) == (None, None)  # the urgency default
    plan = build_plan(chain, practice.policy_for(Urgency.EMERGENCY))
    emergency_default = practice.policy_for(Urgency.EMERGENCY).ack_timeout_seconds
    assert plan.step(0).timeout_seconds == emergency_default < 1800


def test_the_nearest_lower_policy_is_borrowed_before_a_farther_one() -> None:
    practice = _practice(
        {Urgency.ROUTINE: _policy(1800), Urgency.URGENT: _policy(90, group_id="peds")}
    )
    level = resolve_chain(practice, NOON, Urgency.EMERGENCY).levels[0]
    assert level.targets == ("dr-a",) and level.ack_timeout_seconds is None


def test_a_target_naming_a_vanished_group_pages_the_default_group() -> None:
    practice = _practice({Urgency.URGENT: _policy(45, group_id="gone")})
    chain = resolve_chain(practice, NOON, Urgency.URGENT)
    assert chain.levels[0].targets == ("dr-a",)
