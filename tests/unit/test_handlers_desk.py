"""Handlers on the fakes for what must never end in silence: intake nobody could
dispatch goes to the desk and is re-alerted until claimed, a reused event id is a
conflict (never a silent overwrite), each level is resolved from the practice as it is
when the level starts, and pages a push could not deliver are reported back."""

from __future__ import annotations

import uuid

import pytest

from engine.domain.practice import SimpleSchedule
from engine.handlers.commands import handle_ack
from engine.handlers.desk_alerts import (
    RejectedInput,
    alert_desk_for_rejected,
    desk_dispatch_id,
    rejected_intake,
)
from engine.handlers.intake import IntakeConflictError, handle_intake
from engine.schemas.acks import AckKind
from engine.schemas.intake import Caller, CallerType, CallReason, SmsMessage, Urgency
from tests.unit.handler_world import NIGHT, World, ack, call, claim


def rejected(**changes: object) -> RejectedInput:
    base = RejectedInput("intake rejected", "schema_violation", "nl.intake", 1, 42)
    return RejectedInput(**{**base.__dict__, **changes})  # type: ignore[arg-type]


async def test_a_rejected_event_of_a_known_practice_alerts_its_own_desk_until_claimed() -> None:
    w = World()
    event_id = uuid.uuid4()
    which = rejected(practice_id="p-1", event_id=event_id, urgency=Urgency.EMERGENCY)
    dispatch_id = await alert_desk_for_rejected(w.svc, which)
    assert dispatch_id == desk_dispatch_id(which) != f"d-{event_id}"
    reused = await alert_desk_for_rejected(w.svc, rejected(practice_id="p-1", event_id=event_id,
                                                         offset=43))  # fmt: skip
    assert reused != dispatch_id  # another record with the same event id: its own alert
    alert, other = w.publisher.on("operator.alerts")
    assert other.source_offset == 43 and other.intake_event_id == event_id
    assert (alert.desk_id, alert.urgency) == ("desk-9", "emergency")
    assert alert.reason == "intake rejected"
    assert (alert.source_topic, alert.source_partition, alert.source_offset) == ("nl.intake", 1, 42)
    assert (alert.reason_code, alert.intake_event_id, alert.alert) == (
        "schema_violation",
        event_id,
        1,
    )
    await w.tick(61)
    mine = [a.alert for a in w.publisher.on("operator.alerts") if a.dispatch_id == dispatch_id]
    assert mine == [1, 2]
    await handle_ack(w.svc, claim(dispatch_id))
    await handle_ack(w.svc, claim(reused))
    before = len(w.publisher.on("operator.alerts"))
    await w.tick(120)
    assert len(w.publisher.on("operator.alerts")) == before
    assert await w.timers.pending() == 0


async def test_an_unreadable_event_alerts_the_default_desk_once_per_record() -> None:
    w = World()
    w.svc.default_desk = "global-desk"
    first = await alert_desk_for_rejected(w.svc, rejected())
    again = await alert_desk_for_rejected(w.svc, rejected())  # redelivered after a crash
    assert first == again == desk_dispatch_id(rejected())
    assert first != desk_dispatch_id(rejected(offset=43))
    [alert] = w.publisher.on("operator.alerts")
    assert (alert.desk_id, alert.practice_id, alert.urgency) == ("global-desk", "unknown", "urgent")


@pytest.mark.parametrize(
    ("raw", "practice", "urgent_enough"),
    [
        (b'{"practice_id": "p-1", "event_id": "%s", "operator_urgency": "emergency"}', "p-1",
         "emergency"),
        (b'{"practice_id": "Jane Doe 555-0100", "event_id": "not-a-uuid"}', None, "urgent"),
        (b"\xff\xfe not json", None, "urgent"),
        (b'["a list"]', None, "urgent"),
        (b'{"practice_id": "p-1", "operator_urgency": {"x": 1}}', "p-1", "urgent"),
    ],
    ids=["ids-and-emergency", "phi-shaped-values", "not-json", "not-an-object", "odd-types"],
)  # fmt: skip
async def test_ids_are_read_best_effort_from_raw_bytes(
    raw: bytes, practice: str | None, urgent_enough: str
) -> None:
    event_id = uuid.uuid4()
    data = raw.replace(b"%s", str(event_id).encode()) if b"%s" in raw else raw
    found = await rejected_intake(World().svc, None, data, "intake rejected", "schema_violation")
    assert found.practice_id == practice
    assert found.event_id == (event_id if b"%s" in raw else None)
    assert found.urgency == urgent_enough


async def test_an_engine_error_keeps_the_real_urgency() -> None:
    w = World()
    event = call().model_copy(update={"message": "he is not breathing"})
    found = await rejected_intake(w.svc, event, b"", "engine error", "handler_error")
    assert (found.practice_id, found.event_id, found.urgency) == (
        "p-1",
        event.event_id,
        Urgency.EMERGENCY,
    )


async def test_a_reused_event_id_with_other_content_is_a_conflict_not_an_overwrite() -> None:
    w = World()
    first = call()
    outcome = await handle_intake(w.svc, first)
    assert outcome.dispatch_id is not None
    before = w.vault.contents[outcome.dispatch_id]
    other = first.model_copy(update={"message": "a different message"})
    with pytest.raises(IntakeConflictError):
        await handle_intake(w.svc, other)
    assert w.vault.contents[outcome.dispatch_id] == before
    assert (await handle_intake(w.svc, first)).action == "duplicate"  # a true retry is fine


async def test_a_reused_event_id_of_a_held_message_is_a_conflict_too() -> None:
    w = World()
    sms = SmsMessage(
        event_id=uuid.uuid4(),
        practice_id="p-1",
        source_system="sms",
        received_at=NIGHT,
        caller=Caller(type=CallerType.PATIENT),
        reason=CallReason.PRESCRIPTION_REFILL,
    )
    assert (await handle_intake(w.svc, sms)).action == "hold_for_office"
    assert (await handle_intake(w.svc, sms)).action == "duplicate"
    with pytest.raises(IntakeConflictError):
        await handle_intake(w.svc, sms.model_copy(update={"message": "other words"}))


async def test_the_backup_is_whoever_the_practice_says_when_the_level_starts() -> None:
    w = World(timeout_s=60, repeats=0, devices=("dr-ash", "dr-birch", "dr-cole"))
    await handle_intake(w.svc, call())
    sick = SimpleSchedule(default_primary=["dr-ash"], default_backup=["dr-cole"])
    w.edit_practice(schedule=sick)  # dr-birch called in sick after the dispatch started
    await w.tick(61)
    assert [p[0] for p in w.paged()] == ["dr-ash", "dr-cole"]
    details = [a.detail for a in w.audit.entries if a.action == "ack_timeout"]  # type: ignore[attr-defined]
    assert any("paging backup #1: dr-cole (backup of the default list)" in d for d in details)


async def test_a_clinician_acks_with_the_page_they_were_sent() -> None:
    w = World(timeout_s=300, repeats=1)
    w.svc.receipt_timeout_s = 30
    outcome = await handle_intake(w.svc, call())
    assert outcome.dispatch_id is not None
    assert w.push.sent[0].page == 1
    await handle_ack(w.svc, ack(outcome.dispatch_id, "dr-ash", AckKind.RECEIVED, page=1))
    await w.tick(301)  # the re-page, page 2: dr-ash's phone confirmed this level already
    assert [(p.device.clinician_id, p.page) for p in w.push.sent] == [("dr-ash", 1), ("dr-ash", 2)]
    await w.tick(31)  # no receipt deadline for page 2: no early failover to the backup
    assert len(w.push.sent) == 2


async def test_clinicians_no_push_reached_are_paged_again_when_the_desk_is_re_alerted() -> None:
    w = World(timeout_s=60, repeats=0)
    w.push.failing_devices = {"dr-ash-phone", "dr-birch-phone"}  # the provider is down
    await handle_intake(w.svc, call())
    [alert] = w.publisher.on("operator.alerts")
    assert alert.reason == "no reachable device" and w.push.sent == []
    w.push.failing_devices = set()  # the provider is back
    await w.tick(61)  # the desk did not claim: re-alert, and page the clinicians again
    assert sorted(p.device.clinician_id for p in w.push.sent) == ["dr-ash", "dr-birch"]
    assert {p.page for p in w.push.sent} == {w.publisher.on("operator.alerts")[-1].page}
    await handle_ack(w.svc, ack(alert.dispatch_id, "dr-birch", AckKind.ACCEPTED))
    assert w.publisher.on("dispatch.state")[-1].to_status == "accepted"


async def test_a_reused_event_id_is_a_conflict_whichever_way_the_first_went() -> None:
    w = World()
    refill = SmsMessage(
        event_id=uuid.uuid4(),
        practice_id="p-1",
        source_system="sms",
        received_at=NIGHT,
        caller=Caller(type=CallerType.PATIENT),
        reason=CallReason.PRESCRIPTION_REFILL,
    )
    assert (await handle_intake(w.svc, refill)).action == "hold_for_office"
    urgent = refill.model_copy(update={"reason": CallReason.SYMPTOMS, "message": "worse now"})
    with pytest.raises(IntakeConflictError):
        await handle_intake(w.svc, urgent)  # the same id, now urgent: not silently held
    dispatched = call()
    await handle_intake(w.svc, dispatched)
    routine = dispatched.model_copy(update={"reason": CallReason.BILLING, "operator_urgency": None})
    with pytest.raises(IntakeConflictError):
        await handle_intake(w.svc, routine)
    assert w.paged() == [("dr-ash", 0, 1)]


async def test_a_record_kept_before_fingerprints_is_a_conflict_not_a_silent_drop() -> None:
    w = World()
    event = call()
    await w.svc.held.mark_seen(f"intake:{event.event_id}", 60, "1")  # as the old version kept it
    with pytest.raises(IntakeConflictError):
        await handle_intake(w.svc, event)
