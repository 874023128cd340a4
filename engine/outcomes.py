"""Does every intake record end somewhere? The pure half of ``nightline verify``.

An intake record has a terminal outcome when the topics show one of:

* **dispatched**: a dispatch started for its event id (the first ``dispatch.state``
  event of a dispatch, ``from_status`` None, names the intake event);
* **held** for the office, or **delivered to the office** (``office.held``);
* **dead-lettered with a desk alert**: a dead letter for its partition and offset, and an
  operator alert naming the same place (so a human was told).

A dead letter without its desk alert, or no evidence at all, is a violation. Records
younger than the grace period are *pending*, not violations: the worker may still be on
them. Separately, dispatches whose latest status has no owner yet (still paging, or at
the desk unclaimed) are listed, oldest first, so an SRE sees messages nobody has taken.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from engine.schemas.outbound import HeldForOffice, ReleasedToOffice

__all__ = [
    "Evidence",
    "IntakeRecord",
    "Outcome",
    "Report",
    "UnownedDispatch",
    "collect_evidence",
    "verify",
]

OWNED = frozenset({"accepted", "completed", "cancelled"})
"""Statuses in which a person has the message (or a person withdrew it)."""


class Outcome(StrEnum):
    DISPATCHED = "dispatched"
    HELD = "held"
    DELIVERED = "delivered_to_office"
    DEAD_LETTERED = "dead_lettered_with_desk_alert"
    DEAD_LETTER_WITHOUT_ALERT = "dead_lettered_without_desk_alert"  # a violation
    NOTHING = "no_outcome"  # a violation
    PENDING = "pending"  # too young to judge


VIOLATIONS = frozenset({Outcome.DEAD_LETTER_WITHOUT_ALERT, Outcome.NOTHING})


@dataclass(frozen=True)
class IntakeRecord:
    """One record of the intake topic (its event id only when it could be read)."""

    partition: int
    offset: int
    at: datetime
    event_id: uuid.UUID | None


@dataclass
class Evidence:
    """What the output topics say happened, by intake event id or intake place."""

    dispatched: set[uuid.UUID] = field(default_factory=set)
    held: set[uuid.UUID] = field(default_factory=set)
    delivered: set[uuid.UUID] = field(default_factory=set)
    dead_letters: set[tuple[int, int]] = field(default_factory=set)
    desk_alerts: set[tuple[int, int]] = field(default_factory=set)
    latest: dict[str, tuple[int, str, datetime, datetime]] = field(default_factory=dict)


@dataclass(frozen=True)
class UnownedDispatch:
    dispatch_id: str
    status: str
    since: datetime


@dataclass(frozen=True)
class Report:
    counts: dict[Outcome, int]
    violations: list[tuple[IntakeRecord, Outcome]]
    unowned: list[UnownedDispatch]

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": {str(k): v for k, v in sorted(self.counts.items())},
            "violations": [
                {
                    "partition": r.partition,
                    "offset": r.offset,
                    "at": r.at.isoformat(),
                    "event_id": None if r.event_id is None else str(r.event_id),
                    "outcome": str(o),
                }
                for r, o in self.violations
            ],
            "unowned": [
                {"dispatch_id": u.dispatch_id, "status": u.status, "since": u.since.isoformat()}
                for u in self.unowned
            ],
        }


def collect_evidence(
    intake_topic: str,
    states: Iterable[Any],
    office: Iterable[Any],
    dead_letters: Iterable[Any],
    alerts: Iterable[Any],
) -> Evidence:
    """Evidence from decoded events of ``dispatch.state``, ``office.held``, ``deadletter``
    and ``operator.alerts`` (dead letters of other topics are not intake outcomes)."""
    found = Evidence()
    for state in states:
        if state.from_status is None and state.dispatch_id.startswith("d-"):
            found.dispatched.add(state.intake_event_id)  # not a dead letter's desk alert
        known = found.latest.get(state.dispatch_id)
        created = known[3] if known else state.at
        if known is None or state.version > known[0]:
            found.latest[state.dispatch_id] = (state.version, state.to_status, state.at, created)
    for event in office:
        if isinstance(event, HeldForOffice):
            found.held.add(event.intake_event_id)
        elif isinstance(event, ReleasedToOffice) and not event.held:
            found.delivered.add(event.intake_event_id)
    for letter in dead_letters:
        if letter.source_topic == intake_topic and letter.source_offset is not None:
            found.dead_letters.add((letter.source_partition, letter.source_offset))
    for alert in alerts:
        if alert.source_topic == intake_topic and alert.source_offset is not None:
            found.desk_alerts.add((alert.source_partition, alert.source_offset))
    return found


def _outcome(record: IntakeRecord, evidence: Evidence) -> Outcome:
    place = (record.partition, record.offset)
    if place in evidence.dead_letters:  # checked first: a reused id is dead-lettered too
        alerted = place in evidence.desk_alerts
        return Outcome.DEAD_LETTERED if alerted else Outcome.DEAD_LETTER_WITHOUT_ALERT
    if record.event_id in evidence.dispatched:
        return Outcome.DISPATCHED
    if record.event_id in evidence.held:
        return Outcome.HELD
    if record.event_id in evidence.delivered:
        return Outcome.DELIVERED
    return Outcome.NOTHING


def verify(
    records: Iterable[IntakeRecord],
    evidence: Evidence,
    now: datetime,
    grace: timedelta = timedelta(seconds=30),
    unowned_after: timedelta = timedelta(minutes=5),
) -> Report:
    """The outcome of every record, the violations, and dispatches nobody owns after
    ``unowned_after``."""
    counts: Counter[Outcome] = Counter()
    violations: list[tuple[IntakeRecord, Outcome]] = []
    for record in records:
        outcome = _outcome(record, evidence)
        if outcome in VIOLATIONS and now - record.at < grace:
            outcome = Outcome.PENDING
        counts[outcome] += 1
        if outcome in VIOLATIONS:
            violations.append((record, outcome))
    unowned = sorted(
        (
            UnownedDispatch(dispatch_id, status, created)
            for dispatch_id, (_, status, _, created) in evidence.latest.items()
            if status not in OWNED and now - created >= unowned_after
        ),
        key=lambda u: u.since,
    )
    return Report(dict(counts), violations, unowned)
