"""Who each kind of level target pages: a named clinician, a role, everyone on call in a
group; every target of a level together; the group a target or the event names; nobody
twice in one chain; the flat default list's backup never repeating the primary; which
overrides the audit names; a policy's read grace; and that policies need coverage
groups (a flat schedule pages its default list).

Found by the mutation audit (``make mutation``). Synthetic ids only.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

import pytest

from engine.domain.oncall import LevelSpec, resolve_chain, resolve_level
from engine.domain.practice import Practice, SimpleSchedule
from engine.domain.schedule import CoverageRole, LevelTarget, PolicyLevel, SchedulePolicy
from engine.schemas.intake import Urgency
from tests.unit.schedule_factories import at, group, layer, override, schedule_practice

NOON = at("2026-01-07 12:00")
BACKUP = CoverageRole.BACKUP


def _two_groups(**policy: Any) -> Practice:
    """Group peds (primary dr-a, backup dr-b) and group ob (primary dr-o); one policy
    for every urgency, made of ``policy`` (default: the primary of the event's group)."""
    peds = group(layer(["dr-a"]), layer(["dr-b"], role=BACKUP), group_id="peds")
    ob = group(layer(["dr-o"]), group_id="ob")
    levels = policy.get("levels") or [_level({"kind": "role", "role": "primary"})]
    chosen = SchedulePolicy.model_validate({"levels": levels, **policy.get("extra", {})})
    practice = schedule_practice(peds, ob, default_group="peds")
    return practice.model_copy(update={"escalation_policies": dict.fromkeys(Urgency, chosen)})


def _level(*targets: dict[str, Any]) -> PolicyLevel:
    return PolicyLevel.model_validate({"targets": list(targets), "ack_timeout_seconds": 30})


def _people(practice: Practice, group_id: str | None = None) -> list[tuple[str, ...]]:
    chain = resolve_chain(practice, NOON, Urgency.URGENT, group_id)
    return [level.targets for level in chain.clinician_levels]


def test_a_named_clinician_is_paged_whoever_is_on_call() -> None:
    named = _level({"kind": "clinician", "clinician_id": "dr-z"})
    assert _people(_two_groups(levels=[named])) == [("dr-z",)]


def test_every_target_of_a_level_is_paged_together() -> None:
    both = _level(
        {"kind": "clinician", "clinician_id": "dr-z"}, {"kind": "role", "role": "primary"}
    )
    assert _people(_two_groups(levels=[both])) == [("dr-z", "dr-a")]


def test_a_group_target_pages_everyone_on_call_in_the_group() -> None:
    everyone = _level({"kind": "group"})
    assert _people(_two_groups(levels=[everyone])) == [("dr-a", "dr-b")]


def test_the_event_s_group_is_paged_unless_the_target_names_one() -> None:
    practice = _two_groups()
    assert _people(practice) == [("dr-a",)]
    assert _people(practice, "ob") == [("dr-o",)]
    named = _level({"kind": "role", "role": "primary", "group_id": "ob"})
    assert _people(_two_groups(levels=[named]), "peds") == [("dr-o",)]


def test_the_audit_reason_names_the_group_the_role_was_taken_from() -> None:
    named = LevelSpec("primary", (LevelTarget(kind="role", role="primary", group_id="ob"),))
    assert resolve_level(_two_groups(), named, NOON).why == ("primary of ob",)


def test_nobody_is_paged_at_two_levels_of_one_chain() -> None:
    first = _level({"kind": "role", "role": "primary"})
    again = _level(
        {"kind": "clinician", "clinician_id": "dr-a"}, {"kind": "role", "role": "backup"}
    )
    assert _people(_two_groups(levels=[first, again])) == [("dr-a",), ("dr-b",)]


def test_the_flat_backup_never_repeats_the_primary() -> None:
    schedule = SimpleSchedule(default_primary=["dr-a"], default_backup=["dr-a", "dr-b"])
    practice = Practice(
        practice_id="p-flat", name="Flat", timezone="America/New_York", schedule=schedule
    )
    backup = resolve_level(practice, LevelSpec("backup", flat_role="backup"), NOON)
    assert backup.people == ("dr-b",)


def test_policies_need_coverage_groups_a_flat_schedule_pages_its_default_list() -> None:
    named = SchedulePolicy(levels=[_level({"kind": "clinician", "clinician_id": "dr-z"})])
    practice = Practice(
        practice_id="p-flat",
        name="Flat",
        timezone="America/New_York",
        schedule=SimpleSchedule(default_primary=["dr-a"]),
        escalation_policies=dict.fromkeys(Urgency, named),
    )
    assert _people(practice) == [("dr-a",)]


def test_the_audit_names_the_overrides_in_force_for_the_role() -> None:
    start, end = at("2026-01-07 10:00"), at("2026-01-07 14:00")
    mine = override("dr-x", start, end)
    other_role = override("dr-y", start, end, role=BACKUP)
    peds = group(layer(["dr-a"]), layer(["dr-b"], role=BACKUP), overrides=[mine, other_role])
    practice = schedule_practice(peds)
    primary = LevelSpec("primary", (LevelTarget(kind="role", role="primary"),))
    assert resolve_level(practice, primary, start).why == (
        f"primary of peds (override {mine.override_id})",
    )
    assert resolve_level(practice, primary, end).why == ("primary of peds",)
    assert resolve_level(practice, primary, start - timedelta(seconds=1)).why == (
        "primary of peds",
    )


def test_the_chain_keeps_the_policy_s_read_grace() -> None:
    practice = _two_groups(extra={"read_grace_seconds": 90})
    assert resolve_chain(practice, NOON, Urgency.URGENT).read_grace == 90


class _NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


def test_resolution_refuses_an_instant_without_an_offset() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_chain(_two_groups(), datetime(2026, 1, 7, 12, 0, tzinfo=_NoOffset()))
