"""On-call calendars (iCalendar, RFC 5545) from Amion, QGenda, Google or Outlook as overrides.

Each event overlapping the range becomes a *replace* override for the clinician it
names: its summary, else an attendee's name or e-mail, against the practice's
clinicians (``mapping`` first, then clinician id or full name, then surname; titles
such as "Dr." and words such as "On call" or "Primary" do not matter).
``icalendar`` parses (it knows Windows zone names such as "Eastern Standard Time"
and VTIMEZONE-defined zones) and ``recurring-ical-events`` expands RRULE, EXDATE
and RECURRENCE-ID. Dates are local midnight to midnight in the practice's zone.
Nothing is dropped silently: events naming nobody or several people, in an unknown
zone or unreadable come back as :class:`UnmatchedEvent`, and overlapping events
naming different people as :class:`Conflict`. Cancelled events are skipped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import recurring_ical_events
from icalendar import Calendar, Component
from icalendar.timezone import tzp

from engine.domain.practice import Practice
from engine.domain.schedule import Clinician, CoverageRole, Override, OverrideKind

__all__ = ["Conflict", "ImportResult", "UnmatchedEvent", "import_overrides"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,39}$")
_TITLES = frozenset({"dr", "drs", "doctor", "md", "do", "np", "rn", "pa", "mr", "mrs", "ms"})


@dataclass(frozen=True)
class UnmatchedEvent:
    """An event that did not become an override, and why (UTC; None when unreadable)."""

    summary: str
    start: datetime | None
    end: datetime | None
    reason: str
    uid: str = ""


@dataclass(frozen=True)
class Conflict:
    """Overrides naming different clinicians overlap over [start, end) (UTC)."""

    start: datetime
    end: datetime
    clinicians: tuple[str, str]
    override_ids: tuple[str, str]


@dataclass(frozen=True)
class ImportResult:
    """What a calendar gave: overrides to review and apply, and what needs an operator."""

    overrides: tuple[Override, ...]  # by start: where two overlap, the later-starting one wins
    unmatched: tuple[UnmatchedEvent, ...]
    conflicts: tuple[Conflict, ...] = ()


def _words(text: str) -> str:
    """`` ana rivera `` for "Dr. Ana RIVERA": lower-case words without titles, space-padded."""
    words = re.split(r"[^0-9a-z]+", text.casefold())
    return f" {' '.join(w for w in words if w and w not in _TITLES)} "


class _Names:
    """Which of the practice's clinicians a piece of free text names."""

    def __init__(self, clinicians: Sequence[Clinician], mapping: Mapping[str, str]) -> None:
        unknown = sorted(set(mapping.values()) - {c.clinician_id for c in clinicians})
        if unknown:
            raise ValueError(f"mapping names clinicians the practice does not have: {unknown}")
        keys = ((_words(text), who) for text, who in mapping.items())
        self._mapping = [(key, who) for key, who in keys if key.strip()]
        names = ((c.clinician_id, _words(c.display_name)) for c in clinicians)
        self._names = [(who, full, f" {full.split()[-1]} ") for who, full in names if full.strip()]

    def named(self, text: str) -> set[str]:
        """Mapping keys found, else ids or full names, else surnames (a name's last word)."""
        words = _words(text)
        ids = {t.strip(".:-_") for t in re.split(r"[^0-9a-z_.:\-]+", text.casefold())}
        return (
            {who for key, who in self._mapping if key in words}
            or {who for who, full, _ in self._names if who.casefold() in ids or full in words}
            or {who for who, _, last in self._names if last in words}
        )

    def resolve(self, summary: str, attendees: object) -> tuple[str | None, str]:
        """The one clinician the summary (else the attendees) names, or None and why."""
        people = self.named(summary)
        for attendee in [] if people else attendees if isinstance(attendees, list) else [attendees]:
            email = re.sub(r"(?i)^mailto:", "", str(attendee))
            people |= self.named(f"{getattr(attendee, 'params', {}).get('CN', '')} {email}")
        if len(people) == 1:
            return people.pop(), ""
        if people:
            return None, f"names several clinicians: {', '.join(sorted(people))}"
        return None, "names no clinician of the practice (summary or attendees)"


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    """UTC; a date is local midnight and a floating time local time in ``zone``."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(), tzinfo=zone)
    return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)


def _unreadable(events: list[Component], zone: ZoneInfo) -> str | None:
    """Why this series cannot be imported as it stands, if it cannot."""
    for event in events:
        for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
            prop = event.get(name)
            try:
                value = None if prop is None else prop.dt
            except ValueError as exc:
                return f"unreadable {name}: {exc}"
            tzid = None if prop is None else prop.params.get("TZID")
            if tzid and isinstance(value, datetime) and value.tzinfo is None:
                return f"unknown time zone {tzid!r} (give it a VTIMEZONE or an IANA name)"
        if "DTSTART" not in event:
            return "the event has no DTSTART"
        times = [_instant(event.decoded(n), zone) for n in ("DTSTART", "DTEND") if n in event]
        if times != sorted(times):
            return "the event ends before it starts"
    return None


def _expand(calendar: Calendar, events: list[Component], start: datetime, end: datetime) -> list:
    """Occurrences of one series (a master and its moved instances) in [start, end)."""
    alone = Calendar()
    if "X-WR-TIMEZONE" in calendar:  # Google: its UTC times are meant in that zone
        alone["X-WR-TIMEZONE"] = calendar["X-WR-TIMEZONE"]
    alone.subcomponents = [*calendar.walk("VTIMEZONE"), *events]
    return list(recurring_ical_events.of(alone).between(start, end))


def _override_id(prefix: str, uid: str, instance: datetime | None, seen: dict[str, int]) -> str:
    """``prefix:UID@instant``, sanitised; long UIDs (Exchange) shortened with a hash."""
    if len(uid) > 60:
        uid = f"{uid[:40]}.{hashlib.sha256(uid.encode()).hexdigest()[:16]}"
    raw = f"{prefix}:{uid}" + ("" if instance is None else f"@{instance:%Y%m%dT%H%M%SZ}")
    text = re.sub(r"[^A-Za-z0-9_.:\-]+", "_", raw)
    seen[text] = seen.get(text, 0) + 1  # a UID repeated by a careless producer: .2, .3
    return text if seen[text] == 1 else f"{text}.{seen[text]}"


def _conflicts(overrides: list[Override]) -> list[Conflict]:
    found = []
    for i, a in enumerate(overrides):
        for b in overrides[i + 1 :]:
            if b.start >= a.end:
                break
            if b.clinician_id != a.clinician_id:
                who, ids = (a.clinician_id, b.clinician_id), (a.override_id, b.override_id)
                found.append(Conflict(b.start, min(a.end, b.end), who, ids))
    return found


def import_overrides(
    ics: bytes,
    practice: Practice,
    start: datetime,
    end: datetime,
    role: CoverageRole = CoverageRole.PRIMARY,
    mapping: Mapping[str, str] | None = None,
    id_prefix: str = "ics",
) -> ImportResult:
    """Replace overrides for ``role`` from the events of ``ics`` overlapping [start, end).

    Raises ValueError for a naive or empty range, an ``id_prefix`` that is not a short
    identifier, a ``mapping`` to an unknown clinician, or bytes that are not iCalendar.
    """
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError(f"import range must be aware and non-empty: {start} .. {end}")
    if not _ID.match(id_prefix):
        raise ValueError(f"id_prefix {id_prefix!r} is not an identifier of up to 40 characters")
    names, zone = _Names(practice.clinicians, mapping or {}), practice.zone
    tzp.use_default()  # forget VTIMEZONEs of earlier files: icalendar caches them by TZID
    calendar = Calendar.from_ical(ics)
    series: dict[str, list[Component]] = {}
    for index, event in enumerate(calendar.walk("VEVENT")):
        series.setdefault(str(event.get("UID", "")) or f"#{index}", []).append(event)
    overrides: list[Override] = []
    unmatched: list[UnmatchedEvent] = []
    seen: dict[str, int] = {}
    for uid, events in series.items():
        problem = _unreadable(events, zone)
        try:
            occurrences = [] if problem else _expand(calendar, events, start, end)
        except (ValueError, TypeError) as exc:  # what recurring-ical-events cannot expand
            problem = f"could not expand the event: {exc}"
        if problem:
            for event in events:
                summary = str(event.get("SUMMARY", "")).strip()
                unmatched.append(UnmatchedEvent(summary, None, None, problem, uid))
            continue
        recurring = any(key in e for e in events for key in ("RRULE", "RDATE", "RECURRENCE-ID"))
        for occurrence in occurrences:
            if str(occurrence.get("STATUS", "")).upper() == "CANCELLED":
                continue
            summary = str(occurrence.get("SUMMARY", "")).strip()
            begin, finish = _instant(occurrence.start, zone), _instant(occurrence.end, zone)
            who, why = names.resolve(summary, occurrence.get("ATTENDEE", []))
            if who is None or finish <= begin:
                why = why or "the event has no duration"
                unmatched.append(UnmatchedEvent(summary, begin, finish, why, uid))
                continue
            slot = occurrence.get("RECURRENCE-ID")  # the original start, kept when moved
            instance = _instant(slot.dt if slot else occurrence.start, zone) if recurring else None
            override_id = _override_id(id_prefix, uid, instance, seen)
            overrides.append(
                Override(
                    override_id=override_id,
                    role=role,
                    kind=OverrideKind.REPLACE,
                    clinician_id=who,
                    start=begin,
                    end=finish,
                    note=f"ics: {summary}"[:300],
                )
            )
    overrides.sort(key=lambda o: (o.start, o.end, o.override_id))
    return ImportResult(tuple(overrides), tuple(unmatched), tuple(_conflicts(overrides)))
