"""The on-call calendar's grid (pure): which local days a month or week view shows, when
each day starts and ends (a day the clocks change is 23 or 25 hours long), and the
final schedule's segments cut to each day.

Days run from local midnight to the next local midnight, found with the schedules' own
wall-clock rule (``engine.domain._wall_clock.localize``), so the grid and the rotations
agree about DST. Weeks start on Monday.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from engine.domain._wall_clock import localize
from engine.domain.schedule_resolution import Segment

__all__ = ["Day", "DaySegment", "View", "day_bounds", "grid", "shown_dates", "step"]

View = Literal["month", "week"]


@dataclass(frozen=True)
class DaySegment:
    """``clinicians`` on call over [``start``, ``end``) within one day (UTC instants);
    ``overridden``: an override decides who it is (or that nobody is)."""

    start: datetime
    end: datetime
    clinicians: tuple[str, ...]
    overridden: bool = False


@dataclass(frozen=True)
class Day:
    """One local day: its UTC start and end, its length in hours (23, 24 or 25), and
    per coverage role its segments in time order."""

    day: date
    start: datetime
    end: datetime
    roles: Mapping[str, tuple[DaySegment, ...]]

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    instant = localize(datetime.combine(day, time(0)), zone)
    if instant is None:
        raise ValueError(f"{day} is outside the range of dates a calendar can show")
    return instant


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of the local day's start and of the next day's start."""
    return _midnight(day, zone), _midnight(day + timedelta(days=1), zone)


def shown_dates(view: View, anchor: date) -> list[date]:
    """The days of the week (Monday first) or of the month that holds ``anchor``."""
    if view == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return [monday + timedelta(days=n) for n in range(7)]
    first = anchor.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return [first + timedelta(days=n) for n in range((following - first).days)]


def step(view: View, anchor: date, direction: int) -> date:
    """The anchor of the previous (-1) or next (+1) week or month."""
    if view == "week":
        return anchor + timedelta(weeks=direction)
    first = anchor.replace(day=1)
    if direction > 0:
        return (first + timedelta(days=32)).replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def _cut(
    segments: Sequence[Segment], start: datetime, end: datetime,
    overridden: Sequence[tuple[datetime, datetime]],
) -> tuple[DaySegment, ...]:  # fmt: skip
    cut = []
    for segment in segments:
        begin, finish = max(segment.start, start), min(segment.end, end)
        if begin < finish:
            touched = any(o_start < finish and begin < o_end for o_start, o_end in overridden)
            cut.append(DaySegment(begin, finish, segment.clinicians, touched))
    return tuple(cut)


def grid(
    dates: Sequence[date], zone: ZoneInfo, schedule: Mapping[str, Sequence[Segment]],
    overrides: Mapping[str, Sequence[tuple[datetime, datetime]]] | None = None,
) -> list[Day]:  # fmt: skip
    """The days, each with every role's segments cut to it. ``schedule`` is the final
    schedule per role (covering the days); ``overrides`` the (start, end) of each role's
    overrides, to mark the segments they touch."""
    overrides = overrides or {}
    days = []
    for day in dates:
        start, end = day_bounds(day, zone)
        roles = {
            role: _cut(segments, start, end, overrides.get(role, ()))
            for role, segments in schedule.items()
        }
        days.append(Day(day, start, end, roles))
    return days
