"""Layered on-call resolution: rotations across DST and leap days, restrictions,
layer and override precedence, end dates, rendering, and the practice-level view.

Expected answers were worked out by hand from the calendar (days since the
rotation started, modulo the number of participants), not by running the code.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.domain._rotation import LayerPlan
from engine.domain.schedule import CoverageGroup, CoverageRole, Layer, Override
from engine.domain.schedule_resolution import Segment, chain_targets, on_call, render
from tests.unit.schedule_factories import (
    LONDON,
    NEW_YORK,
    at,
    group,
    layer,
    override,
    schedule_practice,
    utc,
    window,
)

PRIMARY, BACKUP = CoverageRole.PRIMARY, CoverageRole.BACKUP
ABC = ("dr-a", "dr-b", "dr-c")
# Daily, 08:00 handoff, from Monday 2026-01-05: day n is ABC[n % 3].
DAILY = layer(ABC, start="2026-01-05")
TWELVE_HOURS = layer(("dr-day", "dr-night"), start="2026-01-05", length=12, unit="hours")


def who(
    g: CoverageGroup, when: datetime, zone: str = NEW_YORK, role: CoverageRole = PRIMARY
) -> tuple[str, ...]:
    return on_call(g, role, when, ZoneInfo(zone))


def local(segments: list[Segment], zone: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Segments as local wall-clock text with the UTC offset, for readable tables."""
    fmt = "%m-%d %H:%M%z"
    tz = ZoneInfo(zone)
    return [
        (s.start.astimezone(tz).strftime(fmt), s.end.astimezone(tz).strftime(fmt), s.clinicians)
        for s in segments
    ]


# -- DST: handoffs stay at local wall-clock time ------------------------------------------------

DAILY_DST = [
    # id, zone, first day, its clinician, its length in hours, the next clinician
    ("new-york-spring-forward", NEW_YORK, "2026-03-07", "dr-b", 23, "dr-c"),
    ("new-york-fall-back", NEW_YORK, "2026-10-31", "dr-c", 25, "dr-a"),
    ("london-spring-forward", LONDON, "2026-03-28", "dr-b", 23, "dr-c"),
    ("london-fall-back", LONDON, "2026-10-24", "dr-b", 25, "dr-c"),
    ("new-york-ordinary-day", NEW_YORK, "2026-03-14", "dr-c", 24, "dr-a"),
]


@pytest.mark.parametrize(
    ("zone", "day", "person", "hours", "following"),
    [case[1:] for case in DAILY_DST],
    ids=[case[0] for case in DAILY_DST],
)
def test_daily_handoff_stays_at_0800_local(
    zone: str, day: str, person: str, hours: int, following: str
) -> None:
    start = at(f"{day} 08:00", zone).astimezone(UTC)  # real hours, not wall-clock ones
    segments = render(
        group(DAILY), PRIMARY, start, start + timedelta(hours=hours + 1), ZoneInfo(zone)
    )
    assert [s.clinicians for s in segments] == [(person,), (following,)]
    first, second = segments
    assert first.end - first.start == timedelta(hours=hours)
    handoff = second.start.astimezone(ZoneInfo(zone))
    assert (handoff.hour, handoff.minute) == (8, 0)
    assert who(group(DAILY), second.start - timedelta(microseconds=1), zone) == (person,)


TWELVE_HOUR_DST = [
    # id, zone, evening before the change, night shift length in hours
    ("new-york-spring-forward", NEW_YORK, "2026-03-07", 11),
    ("new-york-fall-back", NEW_YORK, "2026-10-31", 13),
    ("london-spring-forward", LONDON, "2026-03-28", 11),
    ("london-fall-back", LONDON, "2026-10-24", 13),
]


@pytest.mark.parametrize(
    ("zone", "day", "night_hours"),
    [case[1:] for case in TWELVE_HOUR_DST],
    ids=[case[0] for case in TWELVE_HOUR_DST],
)
def test_twelve_hour_rotation_keeps_0800_and_2000(zone: str, day: str, night_hours: int) -> None:
    tz = ZoneInfo(zone)
    start = at(f"{day} 08:00", zone).astimezone(UTC)  # real hours, not wall-clock ones
    end = start + timedelta(hours=36 + night_hours - 12)
    segments = render(group(TWELVE_HOURS), PRIMARY, start, end, tz)
    assert [s.clinicians for s in segments] == [("dr-day",), ("dr-night",), ("dr-day",)]
    assert [s.end - s.start for s in segments] == [
        timedelta(hours=12),
        timedelta(hours=night_hours),
        timedelta(hours=12),
    ]
    assert [s.start.astimezone(tz).strftime("%H:%M") for s in segments] == [
        "08:00",
        "20:00",
        "08:00",
    ]


# -- Point queries: DST edge handoffs, leap days, rotations that started years ago -------------

EARLY = layer(ABC, start="2026-01-05", handoff="02:30")  # 2026-03-08 is day 62: dr-c
NIGHT_OWL = layer(ABC, start="2026-01-05", handoff="01:30")  # 2026-11-01 is day 300: dr-a
LEAP_DAILY = layer(ABC, start="2028-02-27")
LEAP_WEEKLY = layer(("dr-w1", "dr-w2"), start="2028-02-21", unit="weeks")  # Mondays
SEVEN = layer([f"dr-{n}" for n in range(1, 8)], start="2019-03-01")  # 2026-03-05: day 2561
MONTHLY_ISH = layer(("dr-w1", "dr-w2", "dr-w3", "dr-w4"), start="2016-01-04", unit="weeks")
OLD_TWELVE = layer(("dr-day", "dr-night"), start="2020-01-01", length=12, unit="hours")

POINTS = [
    # 02:30 does not exist on 2026-03-08 in New York: the handoff is when clocks jump (07:00Z)
    ("spring-gap-handoff-before", EARLY, NEW_YORK, utc("2026-03-08T06:59:59.999999"), "dr-b"),
    ("spring-gap-handoff-at-jump", EARLY, NEW_YORK, utc("2026-03-08T07:00"), "dr-c"),
    ("spring-gap-next-day", EARLY, NEW_YORK, at("2026-03-09 02:29"), "dr-c"),
    ("spring-gap-next-handoff", EARLY, NEW_YORK, at("2026-03-09 02:30"), "dr-a"),
    # 01:30 happens twice on 2026-11-01: the first occurrence (EDT) is the handoff
    ("fall-back-before-first", NIGHT_OWL, NEW_YORK, at("2026-11-01 01:29"), "dr-c"),
    ("fall-back-first-occurrence", NIGHT_OWL, NEW_YORK, at("2026-11-01 01:30"), "dr-a"),
    ("fall-back-second-occurrence", NIGHT_OWL, NEW_YORK, at("2026-11-01 01:30", fold=1), "dr-a"),
    ("leap-day", LEAP_DAILY, NEW_YORK, at("2028-02-29 12:00"), "dr-c"),
    ("leap-day-night", LEAP_DAILY, NEW_YORK, at("2028-03-01 07:59"), "dr-c"),
    ("after-leap-day", LEAP_DAILY, NEW_YORK, at("2028-03-01 08:00"), "dr-a"),
    ("weekly-over-leap-day", LEAP_WEEKLY, NEW_YORK, at("2028-02-29 12:00"), "dr-w2"),
    ("weekly-end-after-leap-day", LEAP_WEEKLY, NEW_YORK, at("2028-03-06 07:59"), "dr-w2"),
    ("weekly-next-after-leap-day", LEAP_WEEKLY, NEW_YORK, at("2028-03-06 08:00"), "dr-w1"),
    ("started-2019-daily", SEVEN, NEW_YORK, at("2026-03-05 10:00"), "dr-7"),
    ("started-2019-before-handoff", SEVEN, NEW_YORK, at("2026-03-05 07:00"), "dr-6"),
    ("started-2016-weekly", MONTHLY_ISH, LONDON, at("2026-07-01 12:00", LONDON), "dr-w4"),
    ("started-2020-12h-day", OLD_TWELVE, NEW_YORK, at("2026-07-01 12:00"), "dr-day"),
    ("started-2020-12h-night", OLD_TWELVE, NEW_YORK, at("2026-07-01 21:00"), "dr-night"),
    ("started-2020-12h-dawn", OLD_TWELVE, NEW_YORK, at("2026-07-02 07:59"), "dr-night"),
    ("before-first-handoff", DAILY, NEW_YORK, at("2026-01-05 07:59"), None),
    ("before-start-date", DAILY, NEW_YORK, at("2025-12-31 12:00"), None),
    ("first-handoff", DAILY, NEW_YORK, at("2026-01-05 08:00"), "dr-a"),
]


@pytest.mark.parametrize(
    ("rota", "zone", "when", "expected"),
    [case[1:] for case in POINTS],
    ids=[case[0] for case in POINTS],
)
def test_rotation_point_queries(
    rota: Layer, zone: str, when: datetime, expected: str | None
) -> None:
    assert who(group(rota), when, zone) == ((expected,) if expected else ())


def test_spring_gap_handoff_shifts_are_23_and_a_half_hours() -> None:
    segments = render(
        group(EARLY), PRIMARY, at("2026-03-07 02:30"), at("2026-03-09 02:30"), ZoneInfo(NEW_YORK)
    )
    assert local(segments, NEW_YORK) == [
        ("03-07 02:30-0500", "03-08 03:00-0400", ("dr-b",)),
        ("03-08 03:00-0400", "03-09 02:30-0400", ("dr-c",)),
    ]
    assert [s.end - s.start for s in segments] == [timedelta(hours=23, minutes=30)] * 2


def test_old_rotation_is_not_iterated(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    original = LayerPlan.shift_start

    def counting(self: LayerPlan, k: int) -> datetime | None:
        nonlocal calls
        calls += 1
        return original(self, k)

    monkeypatch.setattr(LayerPlan, "shift_start", counting)
    ancient = layer(ABC, start="1950-01-02", length=1, unit="hours")
    assert who(group(ancient), at("2026-11-01 01:30", fold=1)) != ()
    assert calls <= 4


# -- Restrictions crossing midnight, layer precedence -------------------------------------------

# Nights: daily at 17:00 from Monday 2026-01-05, windows mon-fri 17:00-08:00 (next morning).
# 2026-03-02 is a Monday, day 56: dr-n1 on Mon, Wed, Fri nights; dr-n2 on Tue, Thu.
NIGHTS = layer(
    ("dr-n1", "dr-n2"),
    start="2026-01-05",
    handoff="17:00",
    restrictions=[window("mon-fri", "17:00", "08:00")],
)
# Weekend: weekly from Saturday 2026-01-03 08:00; Saturday 2026-03-07 starts week 9 (dr-wb).
WEEKEND = layer(
    ("dr-wa", "dr-wb"),
    start="2026-01-03",
    unit="weeks",
    restrictions=[window("sat,sun", "08:00", "08:00")],
)
BASE = layer(("dr-base",), start="2025-01-01")
OFFICE = layer(
    ("dr-office",), start="2025-01-01", restrictions=[window("mon-fri", "09:00", "17:00")]
)

AFTER_HOURS = group(NIGHTS, WEEKEND)
RESTRICTED = [
    ("monday-before-window", AFTER_HOURS, at("2026-03-02 16:59"), ()),
    ("monday-window-opens", AFTER_HOURS, at("2026-03-02 17:00"), ("dr-n1",)),
    ("monday-night-past-midnight", AFTER_HOURS, at("2026-03-03 07:59"), ("dr-n1",)),
    ("tuesday-morning-closes", AFTER_HOURS, at("2026-03-03 08:00"), ()),
    ("tuesday-night", AFTER_HOURS, at("2026-03-03 23:00"), ("dr-n2",)),
    ("friday-night-into-saturday", AFTER_HOURS, at("2026-03-07 07:59"), ("dr-n1",)),
    ("saturday-weekend-layer", AFTER_HOURS, at("2026-03-07 08:00"), ("dr-wb",)),
    ("saturday-evening-not-a-weeknight", AFTER_HOURS, at("2026-03-07 17:30"), ("dr-wb",)),
    ("sunday-over-spring-forward", AFTER_HOURS, at("2026-03-08 03:30"), ("dr-wb",)),
    ("sunday-night-into-monday", AFTER_HOURS, at("2026-03-09 07:59"), ("dr-wb",)),
    ("monday-daytime-gap", AFTER_HOURS, at("2026-03-09 08:00"), ()),
    ("same-day-window-inside", group(OFFICE), at("2026-03-04 12:00"), ("dr-office",)),
    ("same-day-window-end", group(OFFICE), at("2026-03-04 17:00"), ()),
    ("same-day-window-weekend", group(OFFICE), at("2026-03-07 12:00"), ()),
    # layers: later ones win where they cover
    ("base-under-nights-day", group(BASE, NIGHTS), at("2026-03-02 12:00"), ("dr-base",)),
    ("base-under-nights-night", group(BASE, NIGHTS), at("2026-03-02 18:00"), ("dr-n1",)),
    ("base-over-nights", group(NIGHTS, BASE), at("2026-03-02 18:00"), ("dr-base",)),
    ("three-layers-weekend", group(BASE, NIGHTS, WEEKEND), at("2026-03-08 12:00"), ("dr-wb",)),
    ("three-layers-office", group(BASE, NIGHTS, WEEKEND), at("2026-03-05 12:00"), ("dr-base",)),
    (
        "higher-layer-not-started",
        group(BASE, layer(("dr-new",), start="2026-04-01")),
        at("2026-03-31 12:00"),
        ("dr-base",),
    ),
    (
        "higher-layer-started",
        group(BASE, layer(("dr-new",), start="2026-04-01")),
        at("2026-04-01 08:00"),
        ("dr-new",),
    ),
]


@pytest.mark.parametrize(
    ("g", "when", "expected"),
    [case[1:] for case in RESTRICTED],
    ids=[case[0] for case in RESTRICTED],
)
def test_restrictions_and_layers(
    g: CoverageGroup, when: datetime, expected: tuple[str, ...]
) -> None:
    assert who(g, when) == expected


def test_weeknights_and_weekend_render_as_one_week() -> None:
    segments = render(
        AFTER_HOURS, PRIMARY, at("2026-03-06 08:00"), at("2026-03-09 12:00"), ZoneInfo(NEW_YORK)
    )
    assert local(segments, NEW_YORK) == [
        ("03-06 08:00-0500", "03-06 17:00-0500", ()),
        ("03-06 17:00-0500", "03-07 08:00-0500", ("dr-n1",)),
        ("03-07 08:00-0500", "03-09 08:00-0400", ("dr-wb",)),
        ("03-09 08:00-0400", "03-09 12:00-0400", ()),
    ]


# -- End dates ---------------------------------------------------------------------------------

OUTGOING = layer(("dr-out",), start="2026-03-01", end="2026-03-10")
INCOMING = layer(("dr-in",), start="2026-03-11")
END_DATES = [
    ("last-day", group(OUTGOING, INCOMING), at("2026-03-10 23:00"), ("dr-out",)),
    ("runs-to-next-handoff", group(OUTGOING, INCOMING), at("2026-03-11 07:59"), ("dr-out",)),
    ("next-layer-takes-over", group(OUTGOING, INCOMING), at("2026-03-11 08:00"), ("dr-in",)),
    ("ended-alone-is-a-gap", group(OUTGOING), at("2026-03-11 08:00"), ()),
    (
        "ended-higher-layer-uncovers-base",
        group(BASE, OUTGOING),
        at("2026-03-12 12:00"),
        ("dr-base",),
    ),
    (
        "single-day-layer",
        group(layer(("dr-x",), start="2026-03-05", end="2026-03-05")),
        at("2026-03-06 07:00"),
        ("dr-x",),
    ),
]


@pytest.mark.parametrize(
    ("g", "when", "expected"), [case[1:] for case in END_DATES], ids=[case[0] for case in END_DATES]
)
def test_layer_end_date(g: CoverageGroup, when: datetime, expected: tuple[str, ...]) -> None:
    assert who(g, when) == expected


def test_end_before_start_is_rejected() -> None:
    with pytest.raises(ValueError, match="before its start_date"):
        layer(start="2026-03-10", end="2026-03-09")


# -- Overrides ---------------------------------------------------------------------------------

NOON = at("2026-03-04 12:00")  # Wednesday, day 58 of DAILY: dr-b from 08:00


def ov(
    clinician: str, start: str, end: str, kind: str = "replace", role: CoverageRole = PRIMARY
) -> Override:
    return override(clinician, at(f"2026-03-04 {start}"), at(f"2026-03-04 {end}"), kind, role)


REPLACE_X = ov("dr-x", "10:00", "14:00")
REMOVE_X = ov("dr-x", "11:00", "13:00", "remove")
OVERRIDES: list[tuple[str, list[Override], datetime, tuple[str, ...]]] = [
    ("no-override", [], NOON, ("dr-b",)),
    ("replace", [REPLACE_X], NOON, ("dr-x",)),
    ("replace-then-remove", [REPLACE_X, REMOVE_X], NOON, ()),
    (
        "replace-then-remove-outside-remove",
        [REPLACE_X, REMOVE_X],
        at("2026-03-04 13:30"),
        ("dr-x",),
    ),
    ("remove-then-replace", [REMOVE_X, REPLACE_X], NOON, ("dr-x",)),
    ("add", [ov("dr-y", "09:00", "15:00", "add")], NOON, ("dr-b", "dr-y")),
    ("add-already-on-call", [ov("dr-b", "09:00", "15:00", "add")], NOON, ("dr-b",)),
    ("remove-on-call", [ov("dr-b", "09:00", "15:00", "remove")], NOON, ()),
    ("remove-someone-else", [ov("dr-z", "09:00", "15:00", "remove")], NOON, ("dr-b",)),
    ("replace-then-add", [REPLACE_X, ov("dr-y", "09:00", "15:00", "add")], NOON, ("dr-x", "dr-y")),
    ("later-replace-wins", [REPLACE_X, ov("dr-z", "11:00", "15:00")], NOON, ("dr-z",)),
    ("add-then-replace", [ov("dr-y", "09:00", "15:00", "add"), REPLACE_X], NOON, ("dr-x",)),
    ("before-interval", [REPLACE_X], at("2026-03-04 09:59"), ("dr-b",)),
    ("at-start-inclusive", [REPLACE_X], at("2026-03-04 10:00"), ("dr-x",)),
    ("at-end-exclusive", [REPLACE_X], at("2026-03-04 14:00"), ("dr-b",)),
    ("other-role-untouched", [ov("dr-x", "10:00", "14:00", role=BACKUP)], NOON, ("dr-b",)),
    (
        "override-in-utc",
        [override("dr-x", utc("2026-03-04T16:00"), utc("2026-03-04T18:00"))],
        NOON,
        ("dr-x",),
    ),
]


@pytest.mark.parametrize(
    ("overrides", "when", "expected"),
    [case[1:] for case in OVERRIDES],
    ids=[case[0] for case in OVERRIDES],
)
def test_override_precedence(
    overrides: list[Override], when: datetime, expected: tuple[str, ...]
) -> None:
    assert who(group(DAILY, overrides=overrides), when) == expected


def test_replace_fills_a_gap() -> None:
    g = group(NIGHTS, overrides=[ov("dr-x", "10:00", "14:00")])
    assert who(g, NOON) == ("dr-x",)
    assert who(g, at("2026-03-04 15:00")) == ()


def test_backup_role_has_its_own_layers_and_overrides() -> None:
    backup = layer(("dr-k",), start="2026-01-01", role=BACKUP)
    g = group(DAILY, backup, overrides=[ov("dr-y", "10:00", "14:00", "add", BACKUP)])
    assert who(g, NOON, role=BACKUP) == ("dr-k", "dr-y")
    assert who(g, NOON, role=PRIMARY) == ("dr-b",)


# -- render ------------------------------------------------------------------------------------


def test_render_merges_equal_neighbours_and_marks_override_edges() -> None:
    g = group(layer(("dr-solo",), start="2026-01-01"), overrides=[REPLACE_X])
    segments = render(
        g, PRIMARY, at("2026-03-03 00:00"), at("2026-03-06 00:00"), ZoneInfo(NEW_YORK)
    )
    assert local(segments, NEW_YORK) == [
        ("03-03 00:00-0500", "03-04 10:00-0500", ("dr-solo",)),
        ("03-04 10:00-0500", "03-04 14:00-0500", ("dr-x",)),
        ("03-04 14:00-0500", "03-06 00:00-0500", ("dr-solo",)),
    ]


def test_render_is_contiguous_and_utc() -> None:
    start, end = at("2026-02-20 05:00"), at("2026-03-20 05:00")
    segments = render(group(BASE, NIGHTS, WEEKEND), PRIMARY, start, end, ZoneInfo(NEW_YORK))
    assert segments[0].start == start and segments[-1].end == end
    assert all(
        a.end == b.start and a.clinicians != b.clinicians for a, b in itertools.pairwise(segments)
    )
    assert all(s.start.utcoffset() == timedelta(0) for s in segments)


def test_render_empty_and_invalid_ranges() -> None:
    tz = ZoneInfo(NEW_YORK)
    assert render(group(DAILY), PRIMARY, NOON, NOON, tz) == []
    with pytest.raises(ValueError, match="before it starts"):
        render(group(DAILY), PRIMARY, NOON, NOON - timedelta(hours=1), tz)
    with pytest.raises(ValueError, match="timezone-aware"):
        render(group(DAILY), PRIMARY, datetime(2026, 3, 4), NOON, tz)


def test_naive_instant_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call(group(DAILY), PRIMARY, datetime(2026, 3, 4, 12), ZoneInfo(NEW_YORK))


def test_group_without_layers_is_nobody() -> None:
    assert who(group(), NOON) == ()
    segments = render(group(), PRIMARY, NOON, NOON + timedelta(days=1), ZoneInfo(NEW_YORK))
    assert segments == [Segment(NOON, NOON + timedelta(days=1), ())]


# -- chain_targets -----------------------------------------------------------------------------

PEDS = group(DAILY, layer(("dr-k",), start="2026-01-01", role=BACKUP), group_id="peds")
OB = group(layer(("dr-ob",), start="2026-01-01"), group_id="ob")


@pytest.mark.parametrize(
    ("default", "asked", "expected"),
    [
        (None, None, {PRIMARY: ("dr-b",), BACKUP: ("dr-k",)}),
        ("ob", None, {PRIMARY: ("dr-ob",), BACKUP: ()}),
        ("ob", "peds", {PRIMARY: ("dr-b",), BACKUP: ("dr-k",)}),
        (None, "ob", {PRIMARY: ("dr-ob",), BACKUP: ()}),
    ],
    ids=["first-group", "default-group", "named-over-default", "named"],
)
def test_chain_targets(
    default: str | None, asked: str | None, expected: dict[CoverageRole, tuple[str, ...]]
) -> None:
    practice = schedule_practice(PEDS, OB, default_group=default)
    assert chain_targets(practice, asked, NOON) == expected


def test_chain_targets_uses_the_practice_zone() -> None:
    practice = schedule_practice(group(DAILY), timezone=LONDON)
    # 08:00 London is 03:00 New York: DAILY's 2026-03-04 shift (dr-b) has started in London
    assert chain_targets(practice, None, at("2026-03-04 03:30"))[PRIMARY] == ("dr-b",)


@pytest.mark.parametrize(
    ("groups", "default", "asked", "message"),
    [
        ((PEDS,), None, "surgery", "no coverage group 'surgery'"),
        ((PEDS,), "ob", None, "no coverage group 'ob'"),
        ((), None, None, "has no coverage groups"),
    ],
    ids=["unknown-group", "unknown-default", "no-groups"],
)
def test_chain_targets_unknown_group(
    groups: tuple[CoverageGroup, ...], default: str | None, asked: str | None, message: str
) -> None:
    practice = schedule_practice(*groups, default_group=default)
    with pytest.raises(KeyError, match=message):
        chain_targets(practice, asked, NOON)
