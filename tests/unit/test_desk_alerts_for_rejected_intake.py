"""Rejected intake at the desk, beyond the basics in ``test_handlers_desk``: one alert
per rejected record wherever it sat in the log, the urgency the message would have had,
the configured desk timeout, and a redelivery counted as a duplicate.

Found by the mutation audit (``make mutation``). Synthetic ids only.
"""

from __future__ import annotations

import uuid

from engine.handlers.desk_alerts import (
    RejectedInput,
    alert_desk_for_rejected,
    desk_dispatch_id,
    peek_intake,
    rejected_intake,
)
from engine.schemas.intake import Caller, CallerType, CallReason, SmsMessage, Urgency
from tests.unit.handler_world import NIGHT, World, call


def _rejected(**changes: object) -> RejectedInput:
    base = RejectedInput("intake rejected", "schema_violation", "nl.intake", 1, 42)
    return RejectedInput(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_each_place_in_the_log_is_its_own_desk_dispatch() -> None:
    places = [
        _rejected(),
        _rejected(topic="nl.intake.retry"),
        _rejected(partition=2),
        _rejected(offset=43),
    ]
    ids = [desk_dispatch_id(r) for r in places]
    assert len(set(ids)) == len(ids)
    assert desk_dispatch_id(_rejected()) == ids[0]  # the same record: the same dispatch


def test_records_of_no_known_place_are_told_apart_by_their_event_id() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    one = desk_dispatch_id(_rejected(offset=None, partition=None, event_id=first))
    two = desk_dispatch_id(_rejected(offset=None, partition=None, event_id=second))
    assert one != two
    assert one == desk_dispatch_id(_rejected(offset=None, partition=None, event_id=first))


async def test_what_is_known_of_a_rejected_event_keeps_the_reason_and_no_place() -> None:
    found = await rejected_intake(World().svc, call(), None, "engine error", "handler_error")
    assert (found.reason, found.reason_code) == ("engine error", "handler_error")
    assert (found.topic, found.partition, found.offset) == ("", None, None)


async def test_a_rejected_routine_message_keeps_the_urgency_triage_gives_it() -> None:
    w = World()
    refill = SmsMessage(
        event_id=uuid.uuid4(),
        practice_id="p-1",
        source_system="sms",
        received_at=NIGHT,
        caller=Caller(type=CallerType.PATIENT),
        reason=CallReason.PRESCRIPTION_REFILL,
    )
    found = await rejected_intake(w.svc, refill, None, "engine error", "handler_error")
    assert found.urgency is Urgency.ROUTINE
    await alert_desk_for_rejected(w.svc, found)  # the desk still gets it as urgent
    assert [a.urgency for a in w.desk_alerts()] == [Urgency.URGENT]


async def test_an_event_of_a_practice_no_longer_served_takes_the_highest_urgency_it_names() -> None:
    w = World()
    base = call(practice_id="p-gone")
    said = [
        ({}, Urgency.URGENT),
        ({"operator_urgency": Urgency.EMERGENCY}, Urgency.EMERGENCY),
        (
            {"operator_urgency": None, "caller_requested_urgency": Urgency.EMERGENCY},
            Urgency.EMERGENCY,
        ),
        ({"operator_urgency": Urgency.ROUTINE}, Urgency.URGENT),
    ]
    for fields, expected in said:
        event = base.model_copy(update=fields)
        found = await rejected_intake(w.svc, event, None, "unknown practice", "unknown_practice")
        assert found.urgency is expected


def test_a_caller_asking_for_an_emergency_in_unreadable_bytes_is_an_emergency() -> None:
    raw = b'{"practice_id": "p-1", "caller_requested_urgency": "emergency", "x": }'
    assert peek_intake(raw)[2] is Urgency.URGENT  # not JSON any more: nothing is read
    raw = b'{"practice_id": "p-1", "caller_requested_urgency": "emergency", "reason": 7}'
    assert peek_intake(raw) == ("p-1", None, Urgency.EMERGENCY)


async def test_the_desk_is_re_alerted_on_the_configured_desk_timeout() -> None:
    w = World()
    w.svc.desk_timeout_s = 300
    await alert_desk_for_rejected(w.svc, _rejected(practice_id="p-1"))
    await w.tick(240)
    assert len(w.desk_alerts()) == 1
    await w.tick(61)
    assert [a.alert for a in w.desk_alerts()] == [1, 2]


async def test_a_redelivered_record_is_counted_as_a_duplicate_and_alerts_once() -> None:
    w = World()
    await alert_desk_for_rejected(w.svc, _rejected())
    await alert_desk_for_rejected(w.svc, _rejected())
    assert len(w.desk_alerts()) == 1
    duplicates = w.svc.metrics.registry.get_sample_value(
        "nightline_illegal_transitions_total", {"reason": "duplicate"}
    )
    assert duplicates == 1.0


async def test_the_state_events_of_an_unreadable_record_name_no_intake_event() -> None:
    w = World()
    await alert_desk_for_rejected(w.svc, _rejected())
    [state] = w.publisher.on("dispatch.state")
    assert state.intake_event_id == uuid.UUID(int=0) and state.to_status == "operator"
