"""Office-hours edges the main table left open: a range starting at an odd minute of the
spring-forward gap opens exactly at the transition, to the second; the next opening is
searched from the practice's local date (an evening clinic after midnight UTC), up to
exactly ``MAX_SEARCH_DAYS`` days ahead; an instant without an offset is refused.

Found by the mutation audit (``make mutation``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from engine.domain.office_hours import MAX_SEARCH_DAYS, next_opening, opening_intervals
from engine.domain.practice import Weekday
from tests.unit.practice_factories import hours

NY = ZoneInfo("America/New_York")


def test_a_range_starting_in_the_gap_opens_at_the_transition_to_the_second() -> None:
    odd = hours({Weekday.SUN: [("02:10", "05:00")]})  # 02:10 does not exist on 2026-03-08
    [(start, end)] = opening_intervals(odd, NY, date(2026, 3, 8))
    assert start == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT
    assert end == datetime(2026, 3, 8, 9, 0, tzinfo=UTC)


def test_an_evening_clinic_is_found_on_the_local_day_after_midnight_utc() -> None:
    evening = hours({Weekday.TUE: [("21:00", "23:00")]})
    after = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)  # Tuesday 20:00 in New York
    assert next_opening(evening, NY, after) == datetime(2026, 3, 4, 2, 0, tzinfo=UTC)


def _closed_for(days: int) -> tuple[date, ...]:
    first = date(2026, 1, 5)
    return tuple(first + timedelta(days=n) for n in range(days))


def test_the_next_opening_is_searched_exactly_max_search_days_ahead() -> None:
    every_day = {day: [("09:00", "17:00")] for day in Weekday}
    after = datetime(2026, 1, 5, 12, 0, tzinfo=NY)
    last_chance = hours(every_day, closed=_closed_for(MAX_SEARCH_DAYS))
    opening = next_opening(last_chance, NY, after)
    assert opening is not None
    assert opening.astimezone(NY).date() == date(2026, 1, 5) + timedelta(days=MAX_SEARCH_DAYS)
    too_far = hours(every_day, closed=_closed_for(MAX_SEARCH_DAYS + 1))
    assert next_opening(too_far, NY, after) is None


class _NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


def test_an_instant_without_an_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_opening(hours({}), NY, datetime(2026, 1, 5, 12, 0, tzinfo=_NoOffset()))
