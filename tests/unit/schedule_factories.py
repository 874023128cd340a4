"""Builders for layered on-call schedules in unit tests.

Synthetic data only: clinicians are ``dr-a``, ``dr-b`` ...; no real people.
Times are written as local ISO text in the schedule's zone (``at``) or UTC
(``utc``), which keeps the tables readable.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from engine.domain.practice import Practice
from engine.domain.schedule import (
    CoverageGroup,
    CoverageRole,
    Layer,
    Override,
    OverrideKind,
    Restriction,
    ShiftUnit,
)
from engine.domain.weekdays import Weekday

__all__ = [
    "LONDON",
    "NEW_YORK",
    "at",
    "group",
    "layer",
    "override",
    "schedule_practice",
    "utc",
    "window",
]

NEW_YORK = "America/New_York"
LONDON = "Europe/London"
_WEEK = list(Weekday)
_IDS = itertools.count(1)


def at(text: str, zone: str = NEW_YORK, fold: int = 0) -> datetime:
    """An aware datetime from local ISO text, e.g. ``at("2026-03-08 08:00")``."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold)


def utc(text: str) -> datetime:
    """An aware UTC datetime from ISO text."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _days(spec: str) -> list[Weekday]:
    """``"mon-fri"`` or ``"sat,sun"`` (ranges and lists may mix) as weekdays."""
    days: list[Weekday] = []
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        i, j = _WEEK.index(Weekday(first)), _WEEK.index(Weekday(last or first))
        days.extend(_WEEK[i : j + 1])
    return days


def window(days: str, start: str, end: str) -> Restriction:
    """A restriction window, e.g. ``window("mon-fri", "17:00", "08:00")``."""
    return Restriction(
        days=_days(days), start=time.fromisoformat(start), end=time.fromisoformat(end)
    )


def layer(
    participants: Sequence[str] = ("dr-a", "dr-b", "dr-c"),
    *,
    start: str = "2026-01-05",
    length: int = 1,
    unit: str = "days",
    handoff: str = "08:00",
    end: str | None = None,
    role: CoverageRole = CoverageRole.PRIMARY,
    restrictions: Sequence[Restriction] = (),
    layer_id: str | None = None,
) -> Layer:
    """A rotation layer; ``start``/``end`` are local dates in ISO form."""
    return Layer(
        layer_id=layer_id or f"layer-{next(_IDS)}",
        role=role,
        participants=list(participants),
        shift_length=length,
        shift_unit=ShiftUnit(unit),
        handoff_time=time.fromisoformat(handoff),
        start_date=date.fromisoformat(start),
        end_date=date.fromisoformat(end) if end else None,
        restrictions=list(restrictions),
    )


def override(
    clinician: str,
    start: datetime,
    end: datetime,
    kind: str = "replace",
    role: CoverageRole = CoverageRole.PRIMARY,
) -> Override:
    """An override of ``role`` over [``start``, ``end``)."""
    return Override(
        override_id=f"ov-{next(_IDS)}",
        role=role,
        kind=OverrideKind(kind),
        clinician_id=clinician,
        start=start,
        end=end,
    )


def group(
    *layers: Layer, overrides: Sequence[Override] = (), group_id: str = "peds"
) -> CoverageGroup:
    """A coverage group; later layers win."""
    return CoverageGroup(
        group_id=group_id,
        name=f"Synthetic group {group_id}",
        layers=list(layers),
        overrides=list(overrides),
    )


def schedule_practice(
    *groups: CoverageGroup,
    practice_id: str = "p-synthetic",
    timezone: str = NEW_YORK,
    default_group: str | None = None,
) -> Practice:
    """A synthetic practice with these coverage groups."""
    return Practice(
        practice_id=practice_id,
        name=f"Synthetic practice {practice_id}",
        timezone=timezone,
        coverage_groups=list(groups),
        default_group=default_group,
    )
