"""The frozen policy and its people: a dispatch keeps every level of the policy, and each
level's people are resolved from the schedule as it is when the level starts."""

from __future__ import annotations

import pytest

from engine.domain.dispatch import AuditEntry, on_ack_timeout, start_dispatch
from engine.domain.escalation import dispatch_plan, level_resolver
from engine.domain.practice import Practice
from engine.domain.schedule import (
    CoverageRole,
    LevelTarget,
    PolicyLevel,
    SchedulePolicy,
    StopCondition,
)
from engine.schemas.intake import Urgency
from tests.unit.dispatch_factories import effects, paged_ids
from tests.unit.schedule_factories import at, group, layer, override, schedule_practice

NIGHT = at("2026-01-07 03:00")  # a Wednesday
BACKUP = CoverageRole.BACKUP


def _policy(**changes: object) -> SchedulePolicy:
    levels = [
        PolicyLevel(name="first call", targets=[LevelTarget(kind="role", role="primary")],
                    ack_timeout_seconds=60),
        PolicyLevel(name="second call", targets=[LevelTarget(kind="role", role="backup")],
                    ack_timeout_seconds=60),
    ]  # fmt: skip
    return SchedulePolicy(levels=levels, **changes)  # type: ignore[arg-type]


def _practice(*overrides: object, policy: SchedulePolicy | None = None) -> Practice:
    primary = layer(["dr-a"], role=CoverageRole.PRIMARY)
    backup = layer(["dr-b"], role=BACKUP, start="2026-01-07")  # backup from 08:00 today
    base = schedule_practice(group(primary, backup, overrides=list(overrides)))  # type: ignore[arg-type]
    return base.model_copy(update={"escalation_policies": {Urgency.URGENT: policy or _policy()}})


def test_a_level_nobody_covers_at_the_start_stays_in_the_plan() -> None:
    plan = dispatch_plan(_practice(), Urgency.URGENT, None, NIGHT, desk_timeout_seconds=45)
    assert [(s.level_name, s.targets) for s in plan.steps] == [
        ("first call", ("dr-a",)),
        ("second call", ()),
        ("operator", ("operator-desk",)),
    ]
    assert plan.operator_step.timeout_seconds == 45
    assert [spec.name for spec in plan.levels] == ["first call", "second call", "operator"]


def test_the_backup_is_resolved_when_its_level_starts() -> None:
    practice = _practice()
    plan = dispatch_plan(practice, Urgency.URGENT, None, at("2026-01-07 07:59"))
    resolve = level_resolver(practice, plan)
    d = start_dispatch("d-1", practice.practice_id, Urgency.URGENT, plan, at("2026-01-07 07:59"),
                       resolve=resolve)  # fmt: skip
    nxt = on_ack_timeout(d.state, 0, at("2026-01-07 08:00"), page=1, resolve=resolve)
    assert paged_ids(nxt) == ["dr-b"]  # the 08:00 backup layer started meanwhile


def test_an_override_saved_during_the_escalation_reaches_it() -> None:
    before = _practice()
    plan = dispatch_plan(before, Urgency.URGENT, None, NIGHT)
    d = start_dispatch("d-1", before.practice_id, Urgency.URGENT, plan, NIGHT,
                       resolve=level_resolver(before, plan))  # fmt: skip
    sick = override("dr-x", at("2026-01-07 03:00"), at("2026-01-08 08:00"), role=BACKUP)
    after = _practice(sick)  # "dr-b is out sick, dr-x covers", saved at 03:00:30
    nxt = on_ack_timeout(d.state, 0, at("2026-01-07 03:01"), page=1,
                         resolve=level_resolver(after, plan))  # fmt: skip
    assert paged_ids(nxt) == ["dr-x"]
    [audit] = effects(nxt, AuditEntry)
    assert f"backup of peds (override {sick.override_id})" in audit.detail


def test_without_the_practice_the_start_snapshot_is_paged() -> None:
    practice = _practice()
    plan = dispatch_plan(practice, Urgency.URGENT, None, at("2026-01-07 09:00"))
    resolve = level_resolver(None, plan)
    assert resolve(0, NIGHT) is None
    d = start_dispatch("d-1", "p", Urgency.URGENT, plan, at("2026-01-07 09:00"), resolve=resolve)
    assert paged_ids(d) == ["dr-a"]


def test_a_practice_edited_beyond_resolution_falls_back_to_the_snapshot() -> None:
    practice = _practice()
    plan = dispatch_plan(practice, Urgency.URGENT, None, at("2026-01-07 09:00"))
    gutted = practice.model_copy(update={"coverage_groups": []})
    assert level_resolver(gutted, plan)(1, NIGHT) is None


@pytest.mark.parametrize(
    ("policy", "grace"),
    [
        (_policy(), 0.0),
        (_policy(stop_on=StopCondition.READ), 60.0),  # once ended it; now one timeout's pause
        (_policy(stop_on=StopCondition.READ, read_grace_seconds=15), 15.0),
        (_policy(read_grace_seconds=90), 90.0),
    ],
    ids=["accepted", "stop-on-read", "explicit-with-read", "explicit"],
)
def test_read_grace_of_a_policy(policy: SchedulePolicy, grace: float) -> None:
    plan = dispatch_plan(_practice(policy=policy), Urgency.URGENT, None, NIGHT)
    assert {s.read_grace_seconds for s in plan.steps if not s.is_operator} == {grace}


def test_the_flat_list_is_resolved_per_level_too() -> None:
    flat = Practice.model_validate(
        {"practice_id": "p-flat", "name": "Flat", "timezone": "UTC",
         "schedule": {"default_primary": ["dr-p"], "default_backup": ["dr-p", "dr-q"]}}
    )  # fmt: skip
    plan = dispatch_plan(flat, Urgency.URGENT, None, NIGHT)
    d = start_dispatch("d-1", "p-flat", Urgency.URGENT, plan, NIGHT,
                       resolve=level_resolver(flat, plan))  # fmt: skip
    assert paged_ids(d) == ["dr-p"]
    [audit] = effects(d, AuditEntry)
    assert "paging primary #1: dr-p (primary of the default list)" in audit.detail
