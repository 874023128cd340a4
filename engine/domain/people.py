"""Everyone a practice can page: its clinician roster, the people of its rotations and
overrides, its simple schedule, and the clinicians its policies name. Pure."""

from __future__ import annotations

from engine.domain.practice import Practice

__all__ = ["people_of"]


def people_of(practice: Practice) -> frozenset[str]:
    found = {c.clinician_id for c in practice.clinicians}
    schedule = practice.schedule
    found |= set(schedule.default_primary) | set(schedule.default_backup)
    for shift in schedule.shifts:
        found |= set(shift.primary) | set(shift.backup)
    for group in practice.coverage_groups:
        for layer in group.layers:
            found |= set(layer.participants)
        found |= {o.clinician_id for o in group.overrides}
    for policy in practice.escalation_policies.values():
        for level in policy.levels:
            found |= {t.clinician_id for t in level.targets if t.clinician_id}
    return frozenset(found)
