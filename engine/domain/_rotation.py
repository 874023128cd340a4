"""Rotation arithmetic of one schedule layer in one time zone (pure).

Shift ``k`` of a layer starts at local wall-clock ``start_date`` + ``handoff_time``
plus ``k`` shift lengths (naive local arithmetic: days and weeks add calendar
days, hours add wall-clock hours), turned into an instant by
:func:`engine.domain._wall_clock.localize`; its participant is
``participants[k % len(participants)]``. So an 08:00 handoff stays at 08:00
local, and a daily shift spanning a DST change lasts 23 or 25 real hours.

A layer covers the instants from its first handoff up to the handoff time on
the day after ``end_date`` (its last shift starts on ``end_date``), and, when it
has restrictions, only inside one of their weekly windows. Finding the shift at
an instant is O(1): an estimate by division on the local wall clock, corrected
by a step or two for DST.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.domain._wall_clock import localize, wall
from engine.domain.schedule import Layer, ShiftUnit
from engine.domain.weekdays import Weekday

__all__ = ["LayerPlan", "Window"]

_UNIT = {
    ShiftUnit.HOURS: timedelta(hours=1),
    ShiftUnit.DAYS: timedelta(days=1),
    ShiftUnit.WEEKS: timedelta(weeks=1),
}
_DAY = timedelta(days=1)
_WEEKDAY_INDEX = {day: index for index, day in enumerate(Weekday)}  # Monday is 0


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly restriction window: starts on ``weekdays`` (0 = Monday) at local ``start``."""

    weekdays: frozenset[int]
    start: time
    end: time
    end_day: timedelta  # 0 days when ``end`` > ``start``, else 1 (crosses midnight)

    def span(self, day: date, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        """The UTC instants of the window starting on local ``day``."""
        begin = localize(datetime.combine(day, self.start), zone)
        return begin, localize(datetime.combine(day + self.end_day, self.end), zone)


@dataclass(frozen=True, slots=True)
class LayerPlan:
    """A layer's constants in one zone, so that each query is a little arithmetic."""

    zone: ZoneInfo
    participants: tuple[str, ...]
    first: datetime  # naive local first handoff
    step: timedelta  # one shift, in naive local time
    begin: datetime | None  # UTC first handoff; None: never (out of datetime's range)
    end: datetime | None  # UTC end of the layer; None: open-ended
    windows: tuple[Window, ...]

    @classmethod
    def build(cls, layer: Layer, zone: ZoneInfo) -> LayerPlan:
        first = datetime.combine(layer.start_date, layer.handoff_time)
        end = None
        if layer.end_date is not None and layer.end_date < date.max:
            end = localize(datetime.combine(layer.end_date + _DAY, layer.handoff_time), zone)
        windows = tuple(
            Window(
                frozenset(_WEEKDAY_INDEX[day] for day in r.days),
                r.start,
                r.end,
                timedelta(0) if r.end > r.start else _DAY,
            )
            for r in layer.restrictions
        )
        return cls(
            zone,
            tuple(layer.participants),
            first,
            _UNIT[layer.shift_unit] * layer.shift_length,
            localize(first, zone),
            end,
            windows,
        )

    def shift_start(self, k: int) -> datetime | None:
        """UTC start of shift ``k``; None when beyond what ``datetime`` can represent."""
        try:
            return localize(self.first + self.step * k, self.zone)
        except OverflowError:
            return None

    def shift_index(self, at: datetime, local: datetime) -> int:
        """The last shift starting at or before ``at`` (UTC; ``local`` is its wall clock)."""
        k = max((local - self.first) // self.step, 0)
        start = self.shift_start(k)
        while k > 0 and (start is None or start > at):
            k -= 1
            start = self.shift_start(k)
        while (following := self.shift_start(k + 1)) is not None and following <= at:
            k += 1
        return k

    def covers(self, at: datetime) -> bool:
        """Whether ``at`` (UTC) is within the layer's dates (restrictions aside)."""
        return self.begin is not None and self.begin <= at and (self.end is None or at < self.end)

    def in_window(self, at: datetime, day: date) -> bool:
        """Whether ``at`` (UTC, local date ``day``) is inside a restriction window."""
        for window in self.windows:
            for start_day in (day - _DAY, day, day + _DAY):
                if start_day.weekday() in window.weekdays:
                    begin, end = window.span(start_day, self.zone)
                    if begin is not None and begin <= at and (end is None or at < end):
                        return True
        return False

    def answer(self, at: datetime, local: datetime) -> str | None:
        """The layer's participant at ``at`` (UTC), or None when the layer does not cover it."""
        if not self.covers(at):
            return None
        if self.windows and not self.in_window(at, local.date()):
            return None
        k = self.shift_index(at, local)
        return self.participants[k % len(self.participants)]

    def boundaries(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every instant in [``start``, ``end``) (UTC) where the layer's answer may change."""
        if self.begin is None or self.begin >= end:
            return
        stop = end if self.end is None else min(end, self.end)
        if self.end is not None:
            yield self.end
        first_local = wall(max(start, self.begin), self.zone)
        k = self.shift_index(max(start, self.begin), first_local)
        while (shift := self.shift_start(k)) is not None and shift < stop:
            yield shift
            k += 1
        day, last = wall(start, self.zone).date() - _DAY, wall(end, self.zone).date() + _DAY
        while self.windows and day <= last:
            for window in self.windows:
                if day.weekday() in window.weekdays:
                    yield from (edge for edge in window.span(day, self.zone) if edge is not None)
            day += _DAY
