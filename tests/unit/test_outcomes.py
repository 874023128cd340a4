"""The intake outcome checker behind ``nightline verify``: each record's terminal
outcome from the output topics, violations, pending records and unowned dispatches."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from engine.outcomes import IntakeRecord, Outcome, collect_evidence, verify
from engine.schemas.outbound import HeldForOffice, ReleasedToOffice

NOW = datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
TOPIC = "nl.intake"


def state(intake: uuid.UUID, dispatch: str, version: int, status: str, age_s: float) -> object:
    return SimpleNamespace(
        intake_event_id=intake,
        dispatch_id=dispatch,
        version=version,
        from_status=None if version == 1 else "sent",
        to_status=status,
        at=NOW - timedelta(seconds=age_s),
    )


def place(topic: str, partition: int, offset: int) -> object:
    return SimpleNamespace(source_topic=topic, source_partition=partition, source_offset=offset)


def record(offset: int, event_id: uuid.UUID | None, age_s: float = 120) -> IntakeRecord:
    return IntakeRecord(0, offset, NOW - timedelta(seconds=age_s), event_id)


def office(event_id: uuid.UUID, held: bool | None) -> HeldForOffice | ReleasedToOffice:
    """Held (``None``), or released to the office (``held``: after being held)."""
    common = {"held_id": f"h-{event_id}", "practice_id": "p-1", "intake_event_id": event_id}
    if held is None:
        return HeldForOffice(**common, release_at=NOW, at=NOW)
    return ReleasedToOffice(**common, held=held, at=NOW)


IDS = [uuid.uuid4() for _ in range(8)]
HELD = office(IDS[1], None)
DELIVERED = office(IDS[2], held=False)
RELEASED_LATER = office(IDS[7], held=True)  # released after a hold: not "delivered now"
EVIDENCE = collect_evidence(
    TOPIC,
    states=[
        state(IDS[0], "d-0", 1, "sent", 200),
        state(IDS[0], "d-0", 2, "accepted", 100),
        state(IDS[6], "d-6", 1, "operator", 600),
    ],
    office=[HELD, DELIVERED, RELEASED_LATER],
    dead_letters=[place(TOPIC, 0, 3), place(TOPIC, 0, 4), place("nl.acks", 0, 9)],
    alerts=[place(TOPIC, 0, 3), place("nl.acks", 0, 5)],
)

CASES = [
    ("dispatched", record(0, IDS[0]), Outcome.DISPATCHED),
    ("held", record(1, IDS[1]), Outcome.HELD),
    ("delivered", record(2, IDS[2]), Outcome.DELIVERED),
    ("dead-letter-and-alert", record(3, None), Outcome.DEAD_LETTERED),
    ("dead-letter-no-alert", record(4, IDS[4]), Outcome.DEAD_LETTER_WITHOUT_ALERT),
    ("nothing", record(5, IDS[5]), Outcome.NOTHING),
    ("another-topics-dead-letter", record(9, None), Outcome.NOTHING),
    ("too-young", record(5, IDS[5], age_s=5), Outcome.PENDING),
    ("released-later-is-held-only", record(7, IDS[7]), Outcome.NOTHING),
]


@pytest.mark.parametrize(("rec", "outcome"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_record_gets_its_outcome(rec: IntakeRecord, outcome: Outcome) -> None:
    report = verify([rec], EVIDENCE, NOW)
    assert report.counts == {outcome: 1}
    bad = outcome in (Outcome.NOTHING, Outcome.DEAD_LETTER_WITHOUT_ALERT)
    assert report.ok is not bad
    assert report.violations == ([(rec, outcome)] if bad else [])


def test_the_desk_alert_of_a_dead_letter_is_not_a_dispatch_of_its_event() -> None:
    """A record that was dead-lettered starts a desk-only dispatch (``dl-...``) naming the
    event; a corrected replay of that event must still be dispatched itself."""
    replayed = uuid.uuid4()
    evidence = collect_evidence(TOPIC, [state(replayed, "dl-x", 1, "operator", 60)], [], [], [])
    assert verify([record(8, replayed)], evidence, NOW).counts == {Outcome.NOTHING: 1}


def test_a_reused_event_id_is_judged_by_its_own_dead_letter() -> None:
    reused = record(3, IDS[0])  # the id of a dispatched event, but this record was rejected
    assert verify([reused], EVIDENCE, NOW).counts == {Outcome.DEAD_LETTERED: 1}


def test_dispatches_nobody_owns_are_listed_oldest_first() -> None:
    report = verify([], EVIDENCE, NOW, unowned_after=timedelta(minutes=5))
    assert [(u.dispatch_id, u.status) for u in report.unowned] == [("d-6", "operator")]
    assert verify([], EVIDENCE, NOW, unowned_after=timedelta(hours=1)).unowned == []


def test_the_report_is_plain_json() -> None:
    report = verify([record(5, IDS[5])], EVIDENCE, NOW).to_dict()
    assert report["ok"] is False
    assert report["violations"][0] | {"at": None} == {
        "partition": 0, "offset": 5, "at": None, "event_id": str(IDS[5]), "outcome": "no_outcome",
    }  # fmt: skip
    assert report["counts"] == {"no_outcome": 1}
