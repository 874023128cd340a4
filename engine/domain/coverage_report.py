"""Coverage reports over a range, to warn practices before it matters (pure).

- :func:`coverage_gaps`: intervals where a coverage group has no primary on call,
  so an urgent page would go straight to the operator desk.
- :func:`double_bookings`: a clinician on call (primary or backup, any group) for
  two or more practices at the same time, who cannot answer both.

Both read the final schedule from :func:`engine.domain.schedule_resolution.render`,
so they agree with what dispatch resolves at any instant. Instants are UTC.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby, pairwise

from engine.domain.practice import Practice
from engine.domain.schedule import CoverageRole
from engine.domain.schedule_resolution import render

__all__ = ["CoverageGap", "DoubleBooking", "coverage_gaps", "double_bookings"]


@dataclass(frozen=True)
class CoverageGap:
    """Nobody holds ``role`` of the group over [``start``, ``end``)."""

    practice_id: str
    group_id: str
    role: CoverageRole
    start: datetime
    end: datetime


@dataclass(frozen=True)
class DoubleBooking:
    """``clinician_id`` is on call for all of ``practice_ids`` over [``start``, ``end``)."""

    clinician_id: str
    practice_ids: tuple[str, ...]  # in the order the practices were given
    start: datetime
    end: datetime


def coverage_gaps(practice: Practice, start: datetime, end: datetime) -> list[CoverageGap]:
    """Intervals in [``start``, ``end``) with no primary on call, by group then time."""
    role, zone = CoverageRole.PRIMARY, practice.zone
    return [
        CoverageGap(practice.practice_id, group.group_id, role, segment.start, segment.end)
        for group in practice.coverage_groups
        for segment in render(group, role, start, end, zone)
        if not segment.clinicians
    ]


_Span = tuple[datetime, datetime, int]  # start, end, index of the practice


def double_bookings(
    practices: Sequence[Practice], start: datetime, end: datetime
) -> list[DoubleBooking]:
    """Clinicians on call for two or more practices at once within [``start``, ``end``).

    Sorted by clinician, then time; adjacent intervals with the same practices merge.
    A practice listed twice (same ``practice_id``) counts once.
    """
    index_of: dict[str, int] = {}
    spans: defaultdict[str, list[_Span]] = defaultdict(list)
    for practice in practices:
        if practice.practice_id in index_of:
            continue
        index = index_of[practice.practice_id] = len(index_of)
        zone = practice.zone
        for group in practice.coverage_groups:
            for role in CoverageRole:
                for segment in render(group, role, start, end, zone):
                    for clinician in segment.clinicians:
                        spans[clinician].append((segment.start, segment.end, index))
    ids = list(index_of)
    found: list[DoubleBooking] = []
    for clinician in sorted(spans):
        for begin, finish, indexes in _overlaps(spans[clinician]):
            booking = DoubleBooking(
                clinician, tuple(ids[i] for i in sorted(indexes)), begin, finish
            )
            if found and _continues(found[-1], booking):
                booking = DoubleBooking(clinician, booking.practice_ids, found.pop().start, finish)
            found.append(booking)
    return found


def _continues(earlier: DoubleBooking, later: DoubleBooking) -> bool:
    same = (earlier.clinician_id, earlier.practice_ids) == (later.clinician_id, later.practice_ids)
    return same and earlier.end == later.start


def _overlaps(spans: list[_Span]) -> list[tuple[datetime, datetime, frozenset[int]]]:
    """Maximal elementary intervals where spans of two or more practices overlap."""
    if len({index for _, _, index in spans}) < 2:
        return []
    events = sorted([(s, 1, i) for s, _, i in spans] + [(e, -1, i) for _, e, i in spans])
    active: Counter[int] = Counter()
    result: list[tuple[datetime, datetime, frozenset[int]]] = []
    batches = [(when, list(batch)) for when, batch in groupby(events, key=lambda ev: ev[0])]
    for (when, batch), (following, _) in pairwise(batches):
        for _, delta, index in batch:
            active[index] += delta
        present = frozenset(index for index, count in active.items() if count > 0)
        if len(present) >= 2:
            result.append((when, following, present))
    return result


def shared_clinicians(practice: Practice, other: Practice) -> frozenset[str]:
    """Clinicians that both practices say belong to the other as well (each lists the
    other's id in that clinician's ``practices``). One practice alone cannot claim a
    clinician of another, so a made-up id never reveals another practice's schedule."""
    ours = {c.clinician_id: set(c.practices) for c in practice.clinicians}
    theirs = {c.clinician_id: set(c.practices) for c in other.clinicians}
    return frozenset(
        clinician
        for clinician, memberships in ours.items()
        if other.practice_id in memberships and practice.practice_id in theirs.get(clinician, set())
    )
