"""The final on-call schedule as iCalendar (RFC 5545) feeds that phone calendars subscribe to.

Shifts come from :func:`engine.domain.schedule_resolution.render`, so a feed shows
exactly who is paged. Times are UTC (no VTIMEZONE needed); ``icalendar`` writes
CRLF line ends and folds long lines. A feed carries only clinician and group
names, never anything about patients. UIDs are stable per (practice, group, role,
shift start): rendering starts a fortnight early so that a shift already running
at ``start`` keeps its real start, and a refreshed feed updates events in place.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vDuration

from engine.domain.practice import Practice
from engine.domain.schedule import CoverageGroup, CoverageRole
from engine.domain.schedule_resolution import Segment, group_for, render

__all__ = ["PRODID", "clinician_feed", "clinician_shifts", "group_feed", "shifts_calendar"]

PRODID = "-//Nightline//Nightline on-call//EN"
_LOOKBACK = timedelta(days=14)
_REFRESH = timedelta(hours=1)
_HEADER = (("prodid", PRODID), ("version", "2.0"), ("calscale", "GREGORIAN"), ("method", "PUBLISH"))
Shift = tuple[CoverageGroup, CoverageRole, Segment]


def _utc(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {instant!r}")
    return instant.astimezone(UTC)


def _shifts(
    practice: Practice, groups: Iterable[CoverageGroup], start: datetime, end: datetime
) -> list[Shift]:
    start, end = _utc(start, "start"), _utc(end, "end")
    if end < start:
        raise ValueError(f"feed range ends ({end}) before it starts ({start})")
    return [
        (group, role, segment)
        for group in groups
        for role in CoverageRole
        for segment in render(group, role, start - _LOOKBACK, end, practice.zone)
        if segment.end > start
    ]


def shifts_calendar(
    practice: Practice, title: str, shifts: Iterable[tuple[Shift, str]], now: datetime | None = None
) -> bytes:
    """A feed with one VEVENT per (shift, summary); built from segments, testable alone."""
    calendar = Calendar()
    for key, value in (*_HEADER, ("x-wr-calname", title)):
        calendar.add(key, value)
    calendar.add("refresh-interval", vDuration(_REFRESH), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(_REFRESH))  # Outlook's name for the same
    stamp = _utc(now or datetime.now(UTC), "now").replace(microsecond=0)
    for (group, role, segment), summary in shifts:
        event = Event()
        first = _utc(segment.start, "segment start")
        key = f"{practice.practice_id}.{group.group_id}.{role.value}.{first:%Y%m%dT%H%M%SZ}"
        event.add("uid", f"{key}@nightline")
        event.add("dtstamp", stamp)
        event.add("dtstart", first)
        event.add("dtend", _utc(segment.end, "segment end"))
        event.add("summary", summary)
        calendar.add_component(event)
    return calendar.to_ical()


def _name(practice: Practice, clinician_id: str) -> str:
    names = {c.clinician_id: c.display_name for c in practice.clinicians}
    return names.get(clinician_id, clinician_id)


def clinician_shifts(
    practice: Practice, clinician_id: str, start: datetime, end: datetime
) -> list[Shift]:
    """Every shift the clinician holds that overlaps [start, end), any group, any role;
    back-to-back segments of the same group and role are one shift."""
    runs: list[Shift] = []
    for group, role, segment in _shifts(practice, practice.coverage_groups, start, end):
        if clinician_id not in segment.clinicians:
            continue
        last = runs[-1] if runs else None
        if last and last[0] is group and last[1] is role and last[2].end == segment.start:
            segment = Segment(runs.pop()[2].start, segment.end, (clinician_id,))
        runs.append((group, role, segment))
    return runs


def clinician_feed(
    practice: Practice,
    clinician_id: str,
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
) -> bytes:
    """Every shift the clinician holds in [start, end), any group, any role.

    Back-to-back segments of the same group and role are one event. Raises
    KeyError for a clinician the practice does not have.
    """
    if clinician_id not in {c.clinician_id for c in practice.clinicians}:
        raise KeyError(f"practice {practice.practice_id!r} has no clinician {clinician_id!r}")
    runs = clinician_shifts(practice, clinician_id, start, end)
    title = f"{practice.name}: on call, {_name(practice, clinician_id)}"
    events = [(run, f"On call: {run[0].name} ({run[1].value})") for run in runs]
    return shifts_calendar(practice, title, events, now)


def group_feed(
    practice: Practice,
    group_id: str,
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
) -> bytes:
    """The group's final primary and backup schedule in [start, end), gaps included.

    Raises KeyError for a group the practice does not have.
    """
    group = group_for(practice, group_id)
    events = []
    for shift in _shifts(practice, [group], start, end):
        _, role, segment = shift
        people = ", ".join(_name(practice, c) for c in segment.clinicians)
        label = f"{group.name} ({role.value})"
        events.append((shift, f"{people}: {label}" if people else f"Nobody on call: {label}"))
    return shifts_calendar(practice, f"{practice.name}: {group.name} on call", events, now)
