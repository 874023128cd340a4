"""Office hours: is a practice's office open at an instant, and when does it next open.

Opening ranges are local wall-clock times in the practice's zone. Each range of a
local date is turned into a half-open interval of real instants ``[start, end)``:

* a wall time that does not exist (spring-forward gap, e.g. 02:30 in New York)
  resolves to the first existing instant after it (the transition, 03:00 EDT);
* an ambiguous wall time (fall-back, the repeated hour) resolves to its first
  occurrence (``fold=0``).

``is_open`` and ``next_opening`` both use these intervals, so they always agree.
``closed_dates`` are local dates on which the office stays closed all day, and so
are the public holidays of ``public_holidays`` (the ``holidays`` library).
Everything here is pure: instants come in as arguments, never from a clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.domain.holiday_calendars import is_public_holiday
from engine.domain.practice import OfficeHours, Weekday

__all__ = ["MAX_SEARCH_DAYS", "is_open", "next_opening", "opening_intervals"]

MAX_SEARCH_DAYS = 400
"""How far ahead ``next_opening`` looks before concluding the office never opens."""

_WEEKDAYS = tuple(Weekday)


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("office-hours decisions need a timezone-aware datetime")


def _resolve(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant (in UTC) at which local wall time ``wall`` on ``day`` happens."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
        return first.astimezone(UTC)  # exists; fold=0 is the first occurrence if ambiguous
    # In a gap: one fold lands before the transition, the other after it. Bisect over
    # whole seconds (tz data transitions are whole seconds) for the first instant whose
    # local wall time is at or past ``naive``: that is the transition itself.
    a = first.timestamp()
    b = naive.replace(tzinfo=zone, fold=1).timestamp()
    before, after = math.floor(min(a, b)), math.ceil(max(a, b))
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= naive:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def opening_intervals(
    hours: OfficeHours, zone: ZoneInfo, day: date
) -> list[tuple[datetime, datetime]]:
    """The half-open UTC intervals during which the office is open on local date ``day``.

    Sorted by start; ranges that vanish entirely inside a DST gap are dropped.
    """
    if day in hours.closed_dates or is_public_holiday(hours.public_holidays, day):
        return []
    intervals = []
    for span in hours.weekly.get(_WEEKDAYS[day.weekday()], []):
        start, end = _resolve(day, span.start, zone), _resolve(day, span.end, zone)
        if start < end:
            intervals.append((start, end))
    return sorted(intervals)


def _days_from(first: date) -> Iterator[date]:
    for offset in range(MAX_SEARCH_DAYS + 1):
        yield first + timedelta(days=offset)


def is_open(hours: OfficeHours, zone: ZoneInfo, at: datetime) -> bool:
    """Whether the office is open at the instant ``at`` (half-open ranges)."""
    _require_aware(at)
    day = at.astimezone(zone).date()
    return any(start <= at < end for start, end in opening_intervals(hours, zone, day))


def next_opening(hours: OfficeHours, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first instant >= ``after`` at which the office is open.

    ``after`` itself (unchanged) when the office is open then; otherwise the start of
    the next opening range as an aware UTC datetime. ``None`` when the office does
    not open within ``MAX_SEARCH_DAYS`` days (no office hours configured, say).
    """
    _require_aware(after)
    if is_open(hours, zone, after):
        return after
    if not any(hours.weekly.values()):
        return None
    for day in _days_from(after.astimezone(zone).date()):
        for start, _end in opening_intervals(hours, zone, day):
            if start >= after:
                return start
    return None
