"""Office hours: opening checks and next opening, across weekends, holidays, DST, leap days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.office_hours import is_open, next_opening
from engine.domain.practice import OfficeHours, TimeRange, Weekday
from tests.unit.practice_factories import at, hours, utc, weekday_hours

NY, LONDON = "America/New_York", "Europe/London"
SUN, MON = Weekday.SUN, Weekday.MON
WK = weekday_hours()
EVERY_DAY = hours({day: [("09:00", "17:00")] for day in Weekday})
LUNCH = hours({MON: [("09:00", "12:00"), ("13:00", "17:00")]})
GAP = hours({SUN: [("02:30", "05:00")]})  # 02:30 does not exist in New York on 2026-03-08
IN_GAP = hours({SUN: [("02:10", "02:50")]})  # the whole range vanishes on 2026-03-08
REPEAT = hours({SUN: [("01:30", "05:00")]})  # 01:30 happens twice in New York on 2026-11-01
ENDS_REPEAT = hours({SUN: [("00:00", "01:30")]})
UK_SUN = hours({SUN: [("01:30", "04:00")]})  # London: gap on 2026-03-29, repeat on 2026-10-25
EVENING_TUE_CLOSED = hours({MON: [("20:00", "23:00")]}, closed=(date(2026, 3, 3),))


def closed(*days: date) -> OfficeHours:
    return weekday_hours(closed=days)


def mondays_closed(weeks: int) -> OfficeHours:
    days = tuple(date(2026, 1, 5) + timedelta(weeks=w) for w in range(weeks))
    return hours({MON: [("09:00", "17:00")]}, closed=days)


IS_OPEN = [
    ("start-inclusive", WK, NY, at("2026-03-02 09:00"), True),
    ("end-exclusive", WK, NY, at("2026-03-02 17:00"), False),
    ("just-before-end", WK, NY, at("2026-03-02 16:59:59.999999"), True),
    ("before-start", WK, NY, at("2026-03-02 08:59:59"), False),
    ("saturday", WK, NY, at("2026-03-07 12:00"), False),
    ("lunch-break", LUNCH, NY, at("2026-03-02 12:30"), False),
    ("closed-date", closed(date(2026, 3, 2)), NY, at("2026-03-02 12:00"), False),
    ("utc-instant-judged-locally", WK, NY, utc("2026-03-02T14:30"), True),
    ("utc-instant-before-local-open", WK, NY, utc("2026-03-02T13:59"), False),
    # Monday 21:00 in New York is Tuesday in UTC: the closed Tuesday does not apply.
    ("closed-date-is-local", EVENING_TUE_CLOSED, NY, utc("2026-03-03T02:00"), True),
    ("gap-opening-not-yet", GAP, NY, utc("2026-03-08T06:59:59"), False),
    ("gap-opening-at-0300-edt", GAP, NY, utc("2026-03-08T07:00"), True),
    ("range-inside-gap-never-open", IN_GAP, NY, utc("2026-03-08T07:00"), False),
    ("repeated-hour-first-pass-not-yet", REPEAT, NY, at("2026-11-01 01:10"), False),
    ("repeated-hour-second-pass-open", REPEAT, NY, at("2026-11-01 01:10", fold=1), True),
    ("closing-in-repeated-hour-first-pass", ENDS_REPEAT, NY, at("2026-11-01 01:15"), True),
    (
        "closing-in-repeated-hour-second-pass",
        ENDS_REPEAT,
        NY,
        at("2026-11-01 01:15", fold=1),
        False,
    ),
    ("london-repeated-hour", UK_SUN, LONDON, at("2026-10-25 01:15", LONDON, 1), True),
    ("london-gap", UK_SUN, LONDON, utc("2026-03-29T00:59"), False),
    ("leap-day-open", WK, NY, at("2028-02-29 10:00"), True),
    ("leap-day-holiday", closed(date(2028, 2, 29)), NY, at("2028-02-29 10:00"), False),
    ("no-hours", OfficeHours(), NY, at("2026-03-02 12:00"), False),
]


@pytest.mark.parametrize(
    ("office", "zone", "instant", "expected"), [c[1:] for c in IS_OPEN], ids=[c[0] for c in IS_OPEN]
)
def test_is_open(office: OfficeHours, zone: str, instant: datetime, expected: bool) -> None:
    assert is_open(office, ZoneInfo(zone), instant) is expected


NEXT = [
    ("before-opening", WK, NY, at("2026-03-02 07:00"), utc("2026-03-02T14:00")),
    ("after-closing", WK, NY, at("2026-03-02 17:00"), utc("2026-03-03T14:00")),
    ("after-lunch", LUNCH, NY, at("2026-03-02 12:30"), utc("2026-03-02T18:00")),
    ("saturday-night-to-monday", WK, NY, at("2026-01-10 23:00"), utc("2026-01-12T14:00")),
    ("weekend-crossing-dst", WK, NY, at("2026-03-06 18:00"), utc("2026-03-09T13:00")),
    (
        "holiday-skipped",
        closed(date(2026, 1, 12)),
        NY,
        at("2026-01-10 23:00"),
        utc("2026-01-13T14:00"),
    ),
    (
        "two-holidays",
        closed(date(2026, 1, 12), date(2026, 1, 13)),
        NY,
        at("2026-01-10 23:00"),
        utc("2026-01-14T14:00"),
    ),
    ("spring-forward-day", EVERY_DAY, NY, at("2026-03-07 22:00"), utc("2026-03-08T13:00")),
    ("fall-back-day", EVERY_DAY, NY, at("2026-10-31 22:00"), utc("2026-11-01T14:00")),
    ("nonexistent-opening", GAP, NY, at("2026-03-08 00:00"), utc("2026-03-08T07:00")),
    ("range-inside-gap-next-week", IN_GAP, NY, at("2026-03-07 12:00"), utc("2026-03-15T06:10")),
    ("ambiguous-first-occurrence", REPEAT, NY, at("2026-11-01 00:00"), utc("2026-11-01T05:30")),
    ("query-in-repeated-hour", WK, NY, at("2026-11-01 01:30", fold=1), utc("2026-11-02T14:00")),
    ("london-spring-weekend", WK, LONDON, at("2026-03-28 22:00", LONDON), utc("2026-03-30T08:00")),
    ("london-nonexistent", UK_SUN, LONDON, at("2026-03-28 23:00", LONDON), utc("2026-03-29T01:00")),
    ("london-ambiguous", UK_SUN, LONDON, at("2026-10-25 00:00", LONDON), utc("2026-10-25T00:30")),
    (
        "london-repeated-hour",
        WK,
        LONDON,
        at("2026-10-25 01:30", LONDON, 1),
        utc("2026-10-26T09:00"),
    ),
    ("leap-day", WK, NY, at("2028-02-28 18:00"), utc("2028-02-29T14:00")),
    (
        "leap-day-holiday",
        closed(date(2028, 2, 29)),
        NY,
        at("2028-02-28 18:00"),
        utc("2028-03-01T14:00"),
    ),
    ("within-400-days", mondays_closed(55), NY, at("2026-01-04 12:00"), utc("2027-01-25T14:00")),
    ("beyond-400-days", mondays_closed(61), NY, at("2026-01-04 12:00"), None),
    ("no-hours", OfficeHours(), NY, at("2026-03-02 12:00"), None),
]


@pytest.mark.parametrize(
    ("office", "zone", "after", "expected"), [c[1:] for c in NEXT], ids=[c[0] for c in NEXT]
)
def test_next_opening(
    office: OfficeHours, zone: str, after: datetime, expected: datetime | None
) -> None:
    result = next_opening(office, ZoneInfo(zone), after)
    assert result == expected
    if result is not None:
        assert result.tzinfo is UTC


def test_open_now_returns_after_itself() -> None:
    after = at("2026-03-02 10:00")
    assert next_opening(weekday_hours(), ZoneInfo(NY), after) is after


@pytest.mark.parametrize("call", [is_open, next_opening], ids=["is_open", "next_opening"])
def test_naive_datetime_rejected(call: object) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call(weekday_hours(), ZoneInfo(NY), datetime(2026, 3, 2, 10, 0))  # type: ignore[operator]


ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Apia", "UTC"]
TRANSITIONS = [
    utc("2026-03-08T07:00"),  # New York spring forward
    utc("2026-11-01T06:00"),  # New York fall back
    utc("2026-03-29T01:00"),  # London
    utc("2026-10-25T01:00"),
    utc("2026-10-03T15:30"),  # Lord Howe: 30-minute shift
    utc("2011-12-30T10:00"),  # Apia skipped 30 December 2011 entirely
]
wall = st.builds(time, st.integers(0, 23), st.sampled_from([0, 10, 30, 59]))
spans = (
    st.tuples(wall, wall)
    .filter(lambda p: p[0] < p[1])
    .map(lambda p: TimeRange(start=p[0], end=p[1]))
)
office_hours = st.builds(
    OfficeHours,
    weekly=st.dictionaries(st.sampled_from(list(Weekday)), st.lists(spans, max_size=3), min_size=1),
    closed_dates=st.lists(st.dates(date(2011, 12, 1), date(2027, 1, 31)), max_size=5),
)
instants = st.one_of(
    st.builds(
        lambda t, m: t + timedelta(minutes=m),
        st.sampled_from(TRANSITIONS),
        st.integers(-2880, 2880),
    ),
    st.datetimes(datetime(2011, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)),
)


@given(office=office_hours, zone=st.sampled_from(ZONES), after=instants)
def test_next_opening_is_the_first_open_instant(
    office: OfficeHours, zone: str, after: datetime
) -> None:
    tz = ZoneInfo(zone)
    result = next_opening(office, tz, after)
    if not any(office.weekly.values()):
        assert result is None
        return
    assert result is not None
    assert result >= after
    assert is_open(office, tz, result)
    assert next_opening(office, tz, result) == result
    if result != after:
        assert not is_open(office, tz, result - timedelta(microseconds=1))


# --- public holidays from the `holidays` library -------------------------------------------


def _weekday_hours(**extra: object) -> OfficeHours:
    weekly = {d: [{"start": "08:00", "end": "17:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}
    return OfficeHours.model_validate({"weekly": weekly, **extra})


@pytest.mark.parametrize(
    ("code", "expected_local"),
    [
        pytest.param(None, datetime(2026, 11, 26, 8, 0), id="no-calendar-thanksgiving-open"),
        pytest.param("US", datetime(2026, 11, 27, 8, 0), id="us-thanksgiving-closed"),
        pytest.param("US-NY", datetime(2026, 11, 27, 8, 0), id="us-ny-thanksgiving-closed"),
        pytest.param("GB-ENG", datetime(2026, 11, 26, 8, 0), id="england-no-thanksgiving"),
    ],
)
def test_public_holidays_close_the_office(code: str | None, expected_local: datetime) -> None:
    zone = ZoneInfo("America/New_York")
    hours = _weekday_hours(public_holidays=code)
    wednesday_night = datetime(2026, 11, 25, 22, 0, tzinfo=zone)
    opening = next_opening(hours, zone, wednesday_night)
    assert opening == expected_local.replace(tzinfo=zone).astimezone(UTC)


def test_unknown_holiday_calendar_is_rejected_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown holiday calendar 'XX'"):
        _weekday_hours(public_holidays="XX")
    with pytest.raises(ValueError, match="US subdivisions"):
        _weekday_hours(public_holidays="US-ZZ")
