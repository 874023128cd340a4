"""Coverage reports: gaps in primary coverage and clinicians booked by two practices at once."""

from __future__ import annotations

from datetime import datetime

import pytest

from engine.domain.coverage_report import (
    CoverageGap,
    DoubleBooking,
    coverage_gaps,
    double_bookings,
)
from engine.domain.practice import Practice
from engine.domain.schedule import CoverageGroup, CoverageRole, Layer, Override, Restriction
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
NIGHTS = layer(
    ("dr-n1", "dr-n2"), handoff="17:00", restrictions=[window("mon-fri", "17:00", "08:00")]
)
WEEKEND = layer(
    ("dr-wa", "dr-wb"),
    start="2026-01-03",
    unit="weeks",
    restrictions=[window("sat,sun", "08:00", "08:00")],
)
ALWAYS = layer(("dr-base",), start="2025-01-01")
MONDAY, NEXT_MONDAY = at("2026-03-02 00:00"), at("2026-03-09 00:00")


def gap(group_id: str, start: str, end: str) -> CoverageGap:
    return CoverageGap("p-synthetic", group_id, PRIMARY, at(start), at(end))


GAPS = [
    (
        "weekday-office-hours",
        schedule_practice(group(NIGHTS, WEEKEND)),
        [gap("peds", f"2026-03-0{d} 08:00", f"2026-03-0{d} 17:00") for d in range(2, 7)],
    ),
    ("full-coverage", schedule_practice(group(ALWAYS)), []),
    (
        "remove-override-opens-a-gap",
        schedule_practice(
            group(
                ALWAYS,
                overrides=[
                    override("dr-base", at("2026-03-04 10:00"), at("2026-03-04 14:00"), "remove")
                ],
            )
        ),
        [gap("peds", "2026-03-04 10:00", "2026-03-04 14:00")],
    ),
    (
        "replace-override-closes-a-gap",
        schedule_practice(
            group(
                NIGHTS,
                WEEKEND,
                overrides=[override("dr-x", at("2026-03-02 06:00"), at("2026-03-06 18:00"))],
            )
        ),
        [],
    ),
    (
        "no-layers-whole-range",
        schedule_practice(group()),
        [gap("peds", "2026-03-02 00:00", "2026-03-09 00:00")],
    ),
    (
        "backup-gaps-are-not-reported",
        schedule_practice(group(ALWAYS, layer(("dr-k",), start="2026-03-05", role=BACKUP))),
        [],
    ),
    (
        "per-group-in-group-order",
        schedule_practice(
            group(ALWAYS, group_id="peds"),
            group(layer(("dr-ob",), start="2026-03-04"), group_id="ob"),
            group(
                ALWAYS,
                overrides=[
                    override("dr-base", at("2026-03-08 12:00"), at("2026-03-10 12:00"), "remove")
                ],
                group_id="icu",
            ),
        ),
        [
            gap("ob", "2026-03-02 00:00", "2026-03-04 08:00"),
            gap("icu", "2026-03-08 12:00", "2026-03-09 00:00"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("practice", "expected"), [case[1:] for case in GAPS], ids=[case[0] for case in GAPS]
)
def test_coverage_gaps(practice: Practice, expected: list[CoverageGap]) -> None:
    assert coverage_gaps(practice, MONDAY, NEXT_MONDAY) == expected


# -- double bookings ---------------------------------------------------------------------------

SHARED = "dr-shared"


def practice(practice_id: str, *groups: CoverageGroup, timezone: str = NEW_YORK) -> Practice:
    return schedule_practice(*groups, practice_id=practice_id, timezone=timezone)


def solo(
    clinician: str = SHARED,
    role: CoverageRole = PRIMARY,
    restrictions: tuple[Restriction, ...] = (),
) -> Layer:
    """``clinician`` alone, every day since 2026-01-01 (inside ``restrictions`` if any)."""
    return layer((clinician,), start="2026-01-01", role=role, restrictions=restrictions)


def add(start: str, end: str, role: CoverageRole = PRIMARY, kind: str = "add") -> Override:
    """An override for dr-shared on Wednesday 2026-03-04."""
    return override(SHARED, at(f"2026-03-04 {start}"), at(f"2026-03-04 {end}"), kind, role)


NIGHTS_SHARED = practice(
    "p-nights", group(solo(restrictions=(window("mon-fri", "17:00", "08:00"),)))
)
BACKUP_SHARED = practice("p-backup", group(solo("dr-bk"), solo(role=BACKUP)))
# p-split: dr-shared is primary 08:00-12:00 (replace) then backup 12:00-16:00 (add) on Wednesday
SPLIT = practice(
    "p-split",
    group(
        solo("dr-sp"),
        overrides=[add("08:00", "12:00", kind="replace"), add("12:00", "16:00", BACKUP)],
    ),
)
ALL_DAY = practice("p-all-day", group(solo()))
HOUR = practice("p-hour", group(solo("dr-hr"), overrides=[add("10:00", "11:00")]))
TWO_GROUPS = practice("p-two", group(solo(), group_id="a"), group(solo(), group_id="b"))
LONDON_DAYS = practice(
    "p-london", group(solo(restrictions=(window("mon-fri", "09:00", "17:00"),))), timezone=LONDON
)
WED, THU = at("2026-03-04 00:00"), at("2026-03-05 00:00")


def booked(ids: tuple[str, ...], start: datetime, end: datetime) -> DoubleBooking:
    return DoubleBooking(SHARED, ids, start, end)


BOOKINGS = [
    (
        "nights-and-backup",
        [NIGHTS_SHARED, BACKUP_SHARED],
        [
            booked(("p-nights", "p-backup"), WED, at("2026-03-04 08:00")),
            booked(("p-nights", "p-backup"), at("2026-03-04 17:00"), THU),
        ],
    ),
    (
        "order-of-practices-kept",
        [BACKUP_SHARED, SPLIT],
        [booked(("p-backup", "p-split"), at("2026-03-04 08:00"), at("2026-03-04 16:00"))],
    ),
    (
        "primary-then-backup-merges",
        [SPLIT, ALL_DAY],
        [booked(("p-split", "p-all-day"), at("2026-03-04 08:00"), at("2026-03-04 16:00"))],
    ),
    (
        "three-practices",
        [SPLIT, ALL_DAY, HOUR],
        [
            booked(("p-split", "p-all-day"), at("2026-03-04 08:00"), at("2026-03-04 10:00")),
            booked(
                ("p-split", "p-all-day", "p-hour"), at("2026-03-04 10:00"), at("2026-03-04 11:00")
            ),
            booked(("p-split", "p-all-day"), at("2026-03-04 11:00"), at("2026-03-04 16:00")),
        ],
    ),
    ("two-groups-one-practice", [TWO_GROUPS], []),
    ("same-practice-twice", [ALL_DAY, ALL_DAY], []),
    ("nobody-shared", [SPLIT], []),
    (
        "across-time-zones",  # New York nights 22:00Z-13:00Z, London days 09:00Z-17:00Z
        [NIGHTS_SHARED, LONDON_DAYS],
        [booked(("p-nights", "p-london"), utc("2026-03-04T09:00"), utc("2026-03-04T13:00"))],
    ),
]


@pytest.mark.parametrize(
    ("practices", "expected"), [case[1:] for case in BOOKINGS], ids=[case[0] for case in BOOKINGS]
)
def test_double_bookings(practices: list[Practice], expected: list[DoubleBooking]) -> None:
    assert double_bookings(practices, WED, THU) == expected


def test_double_bookings_sorted_by_clinician_then_time() -> None:
    first = practice(
        "p-1",
        group(
            layer(("dr-b", "dr-a"), start="2026-03-04", handoff="00:00", length=12, unit="hours")
        ),
    )
    second = practice(
        "p-2",
        group(
            layer(("dr-z",), start="2026-01-01"),
            layer(("dr-a",), start="2026-01-01", role=BACKUP),
            layer(
                ("dr-b",),
                start="2026-01-01",
                role=BACKUP,
                restrictions=[window("wed", "00:00", "12:00")],
            ),
        ),
    )
    assert [(b.clinician_id, b.start) for b in double_bookings([first, second], WED, THU)] == [
        ("dr-a", at("2026-03-04 12:00")),
        ("dr-b", WED),
    ]


def test_only_clinicians_both_practices_list_as_members_are_shared() -> None:
    from engine.domain.coverage_report import shared_clinicians
    from engine.domain.schedule import Clinician

    def with_members(practice_id: str, members: dict[str, list[str]]) -> Practice:
        clinicians = [Clinician(clinician_id=c, display_name=c, practices=p)
                      for c, p in members.items()]  # fmt: skip
        return Practice(practice_id=practice_id, name=practice_id, timezone="UTC",
                        clinicians=clinicians)  # fmt: skip

    north = with_members("north", {"dr-both": ["south"], "dr-claimed": ["south"], "dr-n": []})
    south = with_members("south", {"dr-both": ["north"], "dr-claimed": [], "dr-s": ["north"]})
    assert shared_clinicians(north, south) == {"dr-both"}  # dr-claimed: only north says so
    assert shared_clinicians(south, north) == {"dr-both"}
    assert shared_clinicians(north, with_members("elsewhere", {"dr-both": ["north"]})) == set()
