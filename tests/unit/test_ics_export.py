"""Publishing the final schedule as iCalendar feeds (per clinician, per group).

Feeds are parsed back with ``icalendar``; the round trip exports a group feed,
imports it as overrides and checks that the same people are on call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from engine.domain.practice import Practice
from engine.domain.schedule import Clinician, CoverageGroup, CoverageRole
from engine.domain.schedule_resolution import Segment, on_call, render
from engine.interchange.ics_export import PRODID, clinician_feed, group_feed, shifts_calendar
from engine.interchange.ics_import import import_overrides
from tests.unit.schedule_factories import at, group, layer, override, utc, window

PRIMARY, BACKUP = CoverageRole.PRIMARY, CoverageRole.BACKUP
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PEOPLE = {"dr-a": "Dr. Ann Adams", "dr-b": "Dr. Bo Baker", "dr-c": "Dr. Cy Cole"}


def practice(*groups: CoverageGroup) -> Practice:
    return Practice(
        practice_id="p-feed",
        name="Synthetic feed practice",
        timezone="America/New_York",
        clinicians=[Clinician(clinician_id=i, display_name=n) for i, n in PEOPLE.items()],
        coverage_groups=list(groups),
    )


PEDS = group(
    layer(("dr-a", "dr-b", "dr-c"), start="2026-03-01"),  # daily at 08:00
    layer(("dr-b", "dr-c"), start="2026-03-01", length=7, role=BACKUP),
    overrides=[override("dr-c", at("2026-03-08 12:00"), at("2026-03-08 20:00"))],
)
OB = group(
    layer(("dr-c",), start="2026-03-01", restrictions=[window("sat,sun", "08:00", "08:00")]),
    group_id="ob",
)
START, END = at("2026-03-06 00:00"), at("2026-03-10 00:00")  # DST begins Mar 8


def events(feed: bytes) -> list[icalendar.Event]:
    found = [e for e in icalendar.Calendar.from_ical(feed).walk("VEVENT")]
    assert all(isinstance(e, icalendar.Event) for e in found)
    return sorted(found, key=lambda e: when(e, "DTSTART"))  # type: ignore[arg-type]


def when(event: icalendar.Event, name: str) -> datetime:
    value = event.decoded(name)
    assert isinstance(value, datetime)
    return value


def spans(feed: bytes) -> list[tuple[str, datetime, datetime]]:
    return [(str(e["SUMMARY"]), when(e, "DTSTART"), when(e, "DTEND")) for e in events(feed)]


def test_feed_is_rfc5545_text_with_crlf_and_prodid() -> None:
    feed = group_feed(practice(PEDS), "peds", START, END, now=NOW)
    assert feed.startswith(b"BEGIN:VCALENDAR\r\n") and feed.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in feed.replace(b"\r\n", b"")
    assert f"PRODID:{PRODID}\r\n".encode() in feed and b"VERSION:2.0\r\n" in feed
    assert all(len(line) <= 75 for line in feed.split(b"\r\n"))
    calendar = icalendar.Calendar.from_ical(feed)
    assert calendar.decoded("REFRESH-INTERVAL") == timedelta(hours=1)
    for event in events(feed):
        assert {"UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"} <= set(event)
        assert when(event, "DTSTAMP") == NOW
        assert when(event, "DTSTART").utcoffset() == timedelta(0)


def test_long_names_are_folded_and_read_back_whole() -> None:
    name = "Pediatrics after hours, north and south campuses, " * 3
    long = CoverageGroup(group_id="peds", name=name.strip(), layers=PEDS.layers)
    feed = group_feed(practice(long), "peds", START, END, now=NOW)
    assert b"\r\n " in feed  # folded
    assert all(len(line) <= 75 for line in feed.split(b"\r\n"))
    summaries = {str(e["SUMMARY"]) for e in events(feed)}
    assert f"Dr. Cy Cole: {name.strip()} (primary)" in summaries


def test_group_feed_is_the_rendered_schedule_for_both_roles() -> None:
    feed = group_feed(practice(PEDS), "peds", START, END, now=NOW)
    expected = []
    for role in CoverageRole:
        for s in render(PEDS, role, START - timedelta(days=14), END, practice(PEDS).zone):
            if s.end > START:
                names = ", ".join(PEOPLE[c] for c in s.clinicians)
                expected.append((f"{names}: Synthetic group peds ({role.value})", s.start, s.end))
    assert spans(feed) == sorted(expected, key=lambda e: e[1])
    assert ("Dr. Cy Cole: Synthetic group peds (primary)", utc("2026-03-08 16:00"),
            utc("2026-03-09 00:00")) in spans(feed)  # the override  # fmt: skip


def test_handoffs_stay_at_local_time_across_dst() -> None:
    feed = group_feed(practice(PEDS), "peds", START, END, now=NOW)
    primary = [e for e in events(feed) if "(primary)" in str(e["SUMMARY"])]
    starts = [when(e, "DTSTART") for e in primary]
    assert utc("2026-03-07 13:00") in starts and utc("2026-03-09 12:00") in starts  # 08:00 local


def test_gaps_are_shown() -> None:
    feed = group_feed(practice(OB), "ob", START, END, now=NOW)
    summaries = [s for s, _, _ in spans(feed)]
    assert "Dr. Cy Cole: Synthetic group ob (primary)" in summaries
    assert "Nobody on call: Synthetic group ob (primary)" in summaries
    assert "Nobody on call: Synthetic group ob (backup)" in summaries


def test_uids_are_stable_when_the_window_moves() -> None:
    first = {
        str(e["UID"]): when(e, "DTSTART")
        for e in events(group_feed(practice(PEDS), "peds", START, END))
    }
    later = group_feed(practice(PEDS), "peds", START + timedelta(hours=30), END)
    moved = {str(e["UID"]): when(e, "DTSTART") for e in events(later)}
    shared = set(first) & set(moved)
    assert len(shared) >= 4
    assert all(first[uid] == moved[uid] for uid in shared)
    running = min(moved.values())  # the shift running at the new start keeps its real start
    assert running < START + timedelta(hours=30)


def test_clinician_feed_has_every_shift_of_one_clinician() -> None:
    feed = clinician_feed(practice(PEDS, OB), "dr-c", START, END, now=NOW)
    got = spans(feed)
    assert {s for s, _, _ in got} == {
        "On call: Synthetic group peds (primary)",
        "On call: Synthetic group peds (backup)",
        "On call: Synthetic group ob (primary)",
    }
    rendered = [
        (g, r, s)
        for g in (PEDS, OB)
        for r in CoverageRole
        for s in render(g, r, START, END, practice(PEDS).zone)
        if "dr-c" in s.clinicians
    ]
    for g, r, s in rendered:  # every instant dr-c holds is inside an event of the feed
        label = f"On call: {g.name} ({r.value})"
        assert any(x == label and a <= s.start and s.end <= b for x, a, b in got), (g, r, s)
    ob = [(a, b) for x, a, b in got if "ob" in x]
    assert (at("2026-03-07 08:00"), at("2026-03-09 08:00")) in ob  # sat and sun as one event


def test_feeds_carry_names_only() -> None:
    feed = clinician_feed(practice(PEDS, OB), "dr-a", START, END, now=NOW)
    feed += group_feed(practice(PEDS), "peds", START, END, now=NOW)
    names = {line.split(b":")[0].split(b";")[0] for line in feed.split(b"\r\n") if line}
    assert names <= {
        b"BEGIN", b"END", b"VERSION", b"PRODID", b"CALSCALE", b"METHOD", b"X-WR-CALNAME",
        b"REFRESH-INTERVAL", b"X-PUBLISHED-TTL", b"UID", b"DTSTAMP", b"DTSTART", b"DTEND",
        b"SUMMARY",
    }  # fmt: skip


def test_shifts_calendar_from_hand_built_segments() -> None:
    segment = Segment(utc("2026-03-02 13:00"), utc("2026-03-03 13:00"), ("dr-a",))
    feed = shifts_calendar(practice(PEDS), "Test", [((PEDS, PRIMARY, segment), "X")], now=NOW)
    [event] = events(feed)
    assert str(event["UID"]) == "p-feed.peds.primary.20260302T130000Z@nightline"
    assert (when(event, "DTSTART"), when(event, "DTEND"), str(event["SUMMARY"])) == (
        segment.start,
        segment.end,
        "X",
    )


def test_unknown_names_and_naive_times_raise() -> None:
    with pytest.raises(KeyError, match="dr-z"):
        clinician_feed(practice(PEDS), "dr-z", START, END)
    with pytest.raises(KeyError, match="nope"):
        group_feed(practice(PEDS), "nope", START, END)
    with pytest.raises(ValueError, match="aware"):
        group_feed(practice(PEDS), "peds", datetime(2026, 3, 6), END)
    with pytest.raises(ValueError, match="before"):
        group_feed(practice(PEDS), "peds", END, START)


def test_round_trip_group_feed_to_overrides() -> None:
    nights = [window("mon-fri", "17:00", "08:00"), window("sat,sun", "08:00", "08:00")]
    rota = group(
        layer(("dr-a", "dr-b", "dr-c"), start="2026-03-01", restrictions=nights),
        overrides=[override("dr-b", at("2026-03-07 20:00"), at("2026-03-08 11:00")),
                   override("dr-c", at("2026-03-09 18:00"), at("2026-03-09 22:00"), kind="remove")],
    )  # fmt: skip
    source = practice(rota)
    feed = group_feed(source, "peds", START, END, now=NOW)
    result = import_overrides(feed, source, START, END, id_prefix="rt")
    assert result.conflicts == ()
    assert {u.summary.split(":")[0] for u in result.unmatched} == {"Nobody on call"}
    copy = CoverageGroup(group_id="peds", name="Copy", overrides=list(result.overrides))
    instant = START
    while instant < END:
        original = on_call(rota, PRIMARY, instant, source.zone)
        assert on_call(copy, PRIMARY, instant, source.zone) == original, instant
        instant += timedelta(minutes=30)
