"""Who is on call: layered rotations and overrides resolved at an instant (pure).

For a coverage group and role, the layers of that role are consulted from the
last to the first (later layers win); the first that covers the instant (within
its dates and, if restricted, inside one of its windows) gives its current
participant. Then the role's overrides covering the instant apply in list
order: *replace* makes the answer exactly that clinician, *add* appends them,
*remove* drops them. The answer keeps its order and has no repeats; it may be
empty (nobody is on call: a coverage gap).

:func:`render` lays the same answer out as contiguous segments over a range by
evaluating :func:`on_call` at every instant where it can change, so the two
never disagree. Rotation and wall-clock rules are in ``_rotation`` and
``_wall_clock``; all instants returned are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from engine.domain._rotation import LayerPlan
from engine.domain._wall_clock import wall
from engine.domain.practice import Practice
from engine.domain.schedule import CoverageGroup, CoverageRole, Override, OverrideKind

__all__ = ["Segment", "chain_targets", "group_for", "on_call", "render"]


@dataclass(frozen=True)
class Segment:
    """``clinicians`` are on call over [``start``, ``end``) (UTC); empty: nobody is."""

    start: datetime
    end: datetime
    clinicians: tuple[str, ...]


def _utc(instant: datetime, name: str = "at") -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {instant!r}")
    return instant.astimezone(UTC)


def _apply(answer: Iterable[str], overrides: Iterable[Override], at: datetime) -> tuple[str, ...]:
    people = list(dict.fromkeys(answer))
    for override in overrides:
        if not (at < override.end and override.start <= at):  # past ones fail on the first test
            continue
        if override.kind is OverrideKind.REPLACE:
            people = [override.clinician_id]
        elif override.kind is OverrideKind.ADD:
            if override.clinician_id not in people:
                people.append(override.clinician_id)
        elif override.clinician_id in people:  # REMOVE
            people.remove(override.clinician_id)
    return tuple(people)


def _on_call(
    plans: Iterable[LayerPlan], overrides: Iterable[Override], at: datetime, zone: ZoneInfo
) -> tuple[str, ...]:
    local = wall(at, zone)
    for plan in plans:  # highest layer first
        person = plan.answer(at, local)
        if person is not None:
            return _apply((person,), overrides, at)
    return _apply((), overrides, at)


def _plans(group: CoverageGroup, role: CoverageRole, zone: ZoneInfo) -> Iterable[LayerPlan]:
    """The role's layers, highest first, planned lazily (most queries stop at the first)."""
    return (LayerPlan.build(layer, zone) for layer in reversed(group.layers) if layer.role == role)


def _overrides(group: CoverageGroup, role: CoverageRole) -> list[Override]:
    return [override for override in group.overrides if override.role == role]


def on_call(
    group: CoverageGroup, role: CoverageRole, at: datetime, zone: ZoneInfo
) -> tuple[str, ...]:
    """Who holds ``role`` in ``group`` at the aware instant ``at``; schedule in ``zone``."""
    return _on_call(_plans(group, role, zone), _overrides(group, role), _utc(at), zone)


def render(
    group: CoverageGroup, role: CoverageRole, start: datetime, end: datetime, zone: ZoneInfo
) -> list[Segment]:
    """The final schedule of ``role`` over [``start``, ``end``): contiguous UTC segments.

    Adjacent segments with the same clinicians are merged; an empty range gives [].
    """
    start, end = _utc(start, "start"), _utc(end, "end")
    if end < start:
        raise ValueError(f"render range ends ({end}) before it starts ({start})")
    if end == start:
        return []
    plans = list(_plans(group, role, zone))
    overrides = _overrides(group, role)
    edges = {start}
    for plan in plans:
        edges.update(plan.boundaries(start, end))
    for override in overrides:
        edges.update((override.start.astimezone(UTC), override.end.astimezone(UTC)))
    instants = sorted(edge for edge in edges if start <= edge < end)
    segments: list[Segment] = []
    for begin, finish in zip(instants, [*instants[1:], end], strict=True):
        people = _on_call(plans, overrides, begin, zone)
        if segments and segments[-1].clinicians == people:
            segments[-1] = Segment(segments[-1].start, finish, people)
        else:
            segments.append(Segment(begin, finish, people))
    return segments


def group_for(practice: Practice, group_id: str | None = None) -> CoverageGroup:
    """The named coverage group, else the practice's default group, else its first.

    Raises KeyError naming the practice when there is no such group.
    """
    wanted = group_id if group_id is not None else practice.default_group
    groups = practice.coverage_groups
    if wanted is None and groups:
        return groups[0]
    for group in groups:
        if group.group_id == wanted:
            return group
    if not groups:
        raise KeyError(f"practice {practice.practice_id!r} has no coverage groups")
    known = ", ".join(g.group_id for g in groups)
    raise KeyError(
        f"practice {practice.practice_id!r} has no coverage group {wanted!r} (groups: {known})"
    )


def chain_targets(
    practice: Practice, group_id: str | None, at: datetime
) -> dict[CoverageRole, tuple[str, ...]]:
    """Who is on call in each role of the group at ``at`` (every role, possibly empty)."""
    group = group_for(practice, group_id)
    zone = practice.zone
    return {role: on_call(group, role, at, zone) for role in CoverageRole}
