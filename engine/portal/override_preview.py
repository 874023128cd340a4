"""What an override would do, before it is saved (pure): the group's schedule for the
affected time with and without it, computed in memory from the practice with the change
applied (or the override removed), and the conflicts an administrator should see first:

- the end is not after the start (then nothing else is computed);
- the covering clinician is not one of the practice's;
- the person being replaced is not on call then (or only for part of it);
- another override of the same group and role overlaps it;
- the covering clinician is already on call in another group or role then;
- the change leaves nobody on call for a while (a gap).

Conflicts are sentences in the practice's time zone; they name clinicians and groups,
never anything from a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from engine.domain.practice import Practice
from engine.domain.schedule import CoverageRole, Override, OverrideKind
from engine.domain.schedule_resolution import Segment, render

__all__ = ["Preview", "Proposal", "preview", "removal_preview", "with_override"]

_WHEN = "%a %d %b %H:%M"


@dataclass(frozen=True)
class Proposal:
    """An override as the form describes it; ``override_id`` names the one being edited
    (None: a new one); ``replaced``: who it covers for, if the form said."""

    group_id: str
    role: CoverageRole
    kind: OverrideKind
    clinician_id: str
    start: datetime
    end: datetime
    note: str = ""
    override_id: str | None = None
    replaced: str | None = None

    def override(self) -> Override:
        return Override(
            override_id=self.override_id or "preview", role=self.role, kind=self.kind,
            clinician_id=self.clinician_id, start=self.start, end=self.end, note=self.note,
        )  # fmt: skip


@dataclass(frozen=True)
class Preview:
    before: list[Segment] = field(default_factory=list)
    after: list[Segment] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def with_override(practice: Practice, proposal: Proposal) -> Practice:
    """The practice with the override added (or, when editing, changed), in memory."""
    override = proposal.override()
    groups = []
    for group in practice.coverage_groups:
        if group.group_id == proposal.group_id:
            kept = [o for o in group.overrides if o.override_id != proposal.override_id]
            group = group.model_copy(update={"overrides": [*kept, override]})
        groups.append(group)
    return practice.model_copy(update={"coverage_groups": groups})


def preview(practice: Practice, proposal: Proposal) -> Preview:
    """The schedule of the proposal's group and role over its time, before and after,
    and its conflicts (see the module doc)."""
    if proposal.end <= proposal.start:
        return Preview(conflicts=["The end is not after the start."])
    zone = practice.zone
    names = {c.clinician_id: c.display_name for c in practice.clinicians}

    def who(clinician_id: str) -> str:
        return names.get(clinician_id, clinician_id)

    def when(start: datetime, end: datetime) -> str:
        return f"{start.astimezone(zone):{_WHEN}} to {end.astimezone(zone):{_WHEN}}"

    groups = {g.group_id: g for g in practice.coverage_groups}
    if proposal.group_id not in groups:
        return Preview(conflicts=["There is no such coverage group."])
    role, start, end = proposal.role, proposal.start, proposal.end
    before = render(groups[proposal.group_id], role, start, end, zone)
    changed = with_override(practice, proposal)
    after_groups = {g.group_id: g for g in changed.coverage_groups}
    after = render(after_groups[proposal.group_id], role, start, end, zone)
    conflicts: list[str] = []
    if proposal.clinician_id not in names:
        conflicts.append(f"{proposal.clinician_id} is not a clinician of this practice.")
    if proposal.replaced:
        holding = [s for s in before if proposal.replaced in s.clinicians]
        if not holding:
            conflicts.append(f"{who(proposal.replaced)} is not {role.value} on call then.")
        elif len(holding) < len(before):
            conflicts.append(
                f"{who(proposal.replaced)} is {role.value} on call for only part of that time."
            )
    for other in groups[proposal.group_id].overrides:
        if (other.role == role and other.override_id != proposal.override_id
                and other.start < end and start < other.end):  # fmt: skip
            conflicts.append(
                f"It overlaps the {other.kind.value} override for {who(other.clinician_id)} "
                f"({when(other.start, other.end)})."
            )
    if proposal.kind is not OverrideKind.REMOVE:
        for group in changed.coverage_groups:
            for other_role in CoverageRole:
                if group.group_id == proposal.group_id and other_role == role:
                    continue
                for s in render(group, other_role, start, end, zone):
                    if proposal.clinician_id in s.clinicians:
                        conflicts.append(
                            f"{who(proposal.clinician_id)} is also {other_role.value} on call "
                            f"in {group.name} ({when(s.start, s.end)})."
                        )
    for s in after:
        if not s.clinicians:
            conflicts.append(f"Nobody would be {role.value} on call ({when(s.start, s.end)}).")
    return Preview(before, after, conflicts)


def removal_preview(practice: Practice, group_id: str, override_id: str) -> Preview | None:
    """The schedule over an override's time with it and without it, and the gaps its
    removal leaves; None when there is no such override."""
    zone = practice.zone
    for group in practice.coverage_groups:
        found = [o for o in group.overrides if o.override_id == override_id]
        if group.group_id != group_id or not found:
            continue
        gone = found[0]
        without = group.model_copy(
            update={"overrides": [o for o in group.overrides if o.override_id != override_id]}
        )
        before = render(group, gone.role, gone.start, gone.end, zone)
        after = render(without, gone.role, gone.start, gone.end, zone)
        conflicts = [
            f"Nobody would be {gone.role.value} on call ({s.start.astimezone(zone):{_WHEN}} "
            f"to {s.end.astimezone(zone):{_WHEN}})."
            for s in after if not s.clinicians
        ]  # fmt: skip
        return Preview(before, after, conflicts)
    return None
