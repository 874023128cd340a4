"""The calendar grid: the days a month or week shows, days the clocks change (23 and 25
hours in America/Chicago), schedule segments cut at local midnight, and overrides marked.

Expected instants were worked out by hand: Chicago is UTC-6 in winter (CST) and UTC-5 in
summer (CDT); in 2026 the clocks spring forward on 8 March and fall back on 1 November.
The daily rotation ABC starts on Monday 2026-01-05, so day n is ABC[n % 3]: 7 March is
day 61 (dr-b), 8 March day 62 (dr-c), 31 October day 299 (dr-c), 1 November day 300 (dr-a).
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from engine.domain.schedule import CoverageRole
from engine.domain.schedule_resolution import render
from engine.portal.calendar_grid import day_bounds, grid, shown_dates, step
from tests.unit.schedule_factories import group, layer, override, utc

CHICAGO = ZoneInfo("America/Chicago")
ABC = ("dr-a", "dr-b", "dr-c")
DAILY = group(layer(ABC, start="2026-01-05"))


def _week(anchor: date, g=DAILY, overrides=None):  # type: ignore[no-untyped-def]
    dates = shown_dates("week", anchor)
    start, _ = day_bounds(dates[0], CHICAGO)
    _, end = day_bounds(dates[-1], CHICAGO)
    schedule = {"primary": render(g, CoverageRole.PRIMARY, start, end, CHICAGO)}
    return grid(dates, CHICAGO, schedule, overrides)


def test_a_week_runs_monday_to_sunday_and_a_month_has_all_its_days() -> None:
    week = shown_dates("week", date(2026, 3, 4))  # a Wednesday
    assert week[0] == date(2026, 3, 2) and week[-1] == date(2026, 3, 8) and len(week) == 7
    february = shown_dates("month", date(2026, 2, 14))
    assert february[0] == date(2026, 2, 1) and february[-1] == date(2026, 2, 28)
    assert len(shown_dates("month", date(2028, 2, 10))) == 29  # a leap year


def test_previous_and_next_weeks_and_months() -> None:
    assert step("week", date(2026, 3, 4), 1) == date(2026, 3, 11)
    assert step("week", date(2026, 3, 4), -1) == date(2026, 2, 25)
    assert step("month", date(2026, 1, 31), 1) == date(2026, 2, 1)
    assert step("month", date(2026, 3, 15), -1) == date(2026, 2, 1)
    assert step("month", date(2026, 12, 5), 1) == date(2027, 1, 1)


def test_the_spring_forward_week_has_a_23_hour_sunday() -> None:
    days = _week(date(2026, 3, 4))
    assert [d.hours for d in days] == [24, 24, 24, 24, 24, 24, 23]
    sunday = days[-1]
    assert (sunday.start, sunday.end) == (utc("2026-03-08 06:00"), utc("2026-03-09 05:00"))
    segments = sunday.roles["primary"]
    assert [(s.start, s.end, s.clinicians) for s in segments] == [
        (utc("2026-03-08 06:00"), utc("2026-03-08 13:00"), ("dr-b",)),  # to 08:00 CDT
        (utc("2026-03-08 13:00"), utc("2026-03-09 05:00"), ("dr-c",)),
    ]


def test_the_fall_back_week_has_a_25_hour_sunday() -> None:
    days = _week(date(2026, 10, 28))
    assert days[-1].day == date(2026, 11, 1)
    assert [d.hours for d in days] == [24, 24, 24, 24, 24, 24, 25]
    sunday = days[-1]
    assert (sunday.start, sunday.end) == (utc("2026-11-01 05:00"), utc("2026-11-02 06:00"))
    assert [(s.start, s.end, s.clinicians) for s in sunday.roles["primary"]] == [
        (utc("2026-11-01 05:00"), utc("2026-11-01 14:00"), ("dr-c",)),  # to 08:00 CST
        (utc("2026-11-01 14:00"), utc("2026-11-02 06:00"), ("dr-a",)),
    ]


def test_segments_an_override_touches_are_marked_and_a_gap_is_an_empty_segment() -> None:
    # Tuesday 3 March (day 57) is dr-a's from 08:00, Wednesday (day 58) dr-b's.
    sick = override("dr-z", utc("2026-03-03 23:00"), utc("2026-03-04 03:00"))  # 17:00-21:00 CST
    away = override("dr-b", utc("2026-03-04 14:00"), utc("2026-03-04 16:00"), kind="remove")
    g = group(layer(ABC, start="2026-01-05"), overrides=[sick, away])
    marks = {"primary": [(sick.start, sick.end), (away.start, away.end)]}
    days = {d.day: d for d in _week(date(2026, 3, 4), g, marks)}
    tuesday = [(s.clinicians, s.overridden) for s in days[date(2026, 3, 3)].roles["primary"]]
    assert tuesday == [
        (("dr-c",), False), (("dr-a",), False), (("dr-z",), True), (("dr-a",), False)
    ]  # fmt: skip
    wednesday = days[date(2026, 3, 4)].roles["primary"]
    assert [(s.clinicians, s.overridden) for s in wednesday] == [
        (("dr-a",), False), ((), True), (("dr-b",), False)
    ]  # fmt: skip
    assert (wednesday[1].start, wednesday[1].end) == (utc("2026-03-04 14:00"),
                                                      utc("2026-03-04 16:00"))  # fmt: skip
    assert all(not s.overridden for s in days[date(2026, 3, 5)].roles["primary"])
