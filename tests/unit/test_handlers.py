"""Handlers with the in-memory fakes: intake to page, timers to escalation, the
outbox after a crash, held messages. Fast-forwarded time, no servers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from engine.handlers.commands import handle_ack, handle_command
from engine.handlers.intake import UnknownPracticeError, dispatch_id_for, handle_intake
from engine.schemas.acks import AckKind
from engine.schemas.intake import Caller, CallerType, CallReason, SmsMessage, Urgency, VoiceCall
from tests.unit.handler_world import NIGHT, World, ack, call, claim


async def test_urgent_call_pages_primary_then_repages_then_backup_then_operator() -> None:
    w = World(timeout_s=60, repeats=1)
    outcome = await handle_intake(w.svc, call())
    assert outcome.action == "dispatch" and w.paged() == [("dr-ash", 0, 1)]
    await w.tick(59)
    assert len(w.paged()) == 1
    for _ in range(3):
        await w.tick(61)
    assert w.paged() == [("dr-ash", 0, 1), ("dr-ash", 1, 2), ("dr-birch", 2, 1), ("dr-birch", 3, 2)]
    await w.tick(61)
    alerts = w.publisher.on("operator.alerts")
    assert [(a.desk_id, a.alert, a.urgency) for a in alerts] == [("desk-9", 1, Urgency.URGENT)]
    assert await w.timers.pending() == 1  # the desk's own acknowledgement timer
    await w.tick(61)  # nobody at the desk claimed it: alerted again
    assert [a.alert for a in w.publisher.on("operator.alerts")] == [1, 2]
    dispatch_id = alerts[0].dispatch_id
    await handle_ack(w.svc, claim(dispatch_id))
    assert w.publisher.on("dispatch.state")[-1].to_status == "accepted"
    assert await w.timers.pending() == 0
    await w.tick(120)
    assert len(w.publisher.on("operator.alerts")) == 2


async def test_accept_stops_escalation() -> None:
    w = World()
    outcome = await handle_intake(w.svc, call())
    assert outcome.dispatch_id
    await handle_ack(w.svc, ack(outcome.dispatch_id, "dr-ash", AckKind.ACCEPTED))
    for _ in range(5):
        await w.tick(61)
    assert len(w.paged()) == 1
    assert await w.timers.pending() == 0
    statuses = [e.to_status for e in w.publisher.on("dispatch.state")]
    assert statuses[-1] == "accepted"


async def test_redelivered_intake_dispatches_once() -> None:
    w = World()
    event = call(event_id=uuid.uuid4())
    await handle_intake(w.svc, event)
    second = await handle_intake(w.svc, event)
    assert second.action == "duplicate" and len(w.paged()) == 1


async def test_a_failure_after_commit_leaves_the_page_to_a_redelivery() -> None:
    w = World()
    w.push.failing_devices = set()
    event = call()

    class Crash(Exception):
        pass

    real_lookup = w.svc.devices.devices_for

    async def crash_once(clinician_ids):  # type: ignore[no-untyped-def]
        w.svc.devices.devices_for = real_lookup  # type: ignore[method-assign]
        raise Crash

    w.svc.devices.devices_for = crash_once  # type: ignore[method-assign]
    await handle_intake(w.svc, event)  # committed; the page is left in the outbox
    assert w.paged() == []
    w.clock.advance(w.svc.effect_lease_s + 1)  # the failed run's claim lapses
    await handle_intake(w.svc, event)  # Kafka redelivers: the outbox runs
    assert w.paged() == [("dr-ash", 0, 1)]
    await handle_intake(w.svc, event)
    assert w.paged() == [("dr-ash", 0, 1)]  # done once, not again


async def test_a_gateway_bug_counts_as_unreachable_and_escalates() -> None:
    w = World()
    real_send = w.push.send

    async def broken_for_ash(request):  # type: ignore[no-untyped-def]
        if request.device.clinician_id == "dr-ash":
            raise RuntimeError("bug in a gateway")
        return await real_send(request)

    w.push.send = broken_for_ash  # type: ignore[method-assign]
    await handle_intake(w.svc, call())
    assert [p[0] for p in w.paged()] == ["dr-birch"]


async def test_unknown_practice_is_an_error_for_the_dead_letters() -> None:
    w = World()
    with pytest.raises(UnknownPracticeError):
        await handle_intake(w.svc, call(practice_id="nope"))


async def test_no_device_skips_to_the_next_level_at_once() -> None:
    w = World(devices=("dr-birch",))
    await handle_intake(w.svc, call())
    assert [p[0] for p in w.paged()] == ["dr-birch"]


async def test_routine_at_night_is_held_then_released_at_opening() -> None:
    w = World()
    sms = SmsMessage(
        event_id=uuid.uuid4(),
        practice_id="p-1",
        source_system="sms",
        received_at=NIGHT,
        caller=Caller(type=CallerType.PATIENT),
        reason=CallReason.PRESCRIPTION_REFILL,
    )
    outcome = await handle_intake(w.svc, sms)
    assert outcome.action == "hold_for_office"
    held = w.publisher.on("office.held")
    assert held[0].release_at == datetime(2026, 1, 6, 13, 0, tzinfo=UTC)  # 08:00 EST
    await w.tick(timedelta(hours=4, minutes=59).total_seconds())
    assert len(w.publisher.on("office.held")) == 1
    await w.tick(61)
    released = w.publisher.on("office.held")[1]
    assert type(released).__name__ == "ReleasedToOffice" and released.held
    await w.tick(3600)
    assert len(w.publisher.on("office.held")) == 2 and w.paged() == []


async def test_stale_timer_is_harmless() -> None:
    w = World()
    outcome = await handle_intake(w.svc, call())
    dispatch_id = outcome.dispatch_id or dispatch_id_for(uuid.uuid4())
    await w.tick(61)  # step 0 -> 1
    from engine.schemas.dispatch import FireAckTimer

    stale = FireAckTimer(dispatch_id=dispatch_id, step=0, due_at=NIGHT, fired_at=NIGHT)
    await handle_command(w.svc, stale)
    assert len(w.paged()) == 2


async def test_emergency_call_on_hold_is_patched_through_to_the_primary() -> None:
    w = World()
    practice = await w.svc.practices.get("p-1")
    assert practice is not None
    rules = practice.triage.model_copy(update={"live_transfer_urgencies": [Urgency.EMERGENCY]})
    w.svc.practices.practices["p-1"] = practice.model_copy(update={"triage": rules})  # type: ignore[attr-defined]
    event = VoiceCall(
        event_id=uuid.uuid4(),
        practice_id="p-1",
        source_system="pbx",
        received_at=NIGHT,
        caller=Caller(type=CallerType.PATIENT),
        reason=CallReason.SYMPTOMS,
        message="baby is not breathing",
        call_id="c-77",
        caller_on_hold=True,
    )
    outcome = await handle_intake(w.svc, event)
    assert outcome.action == "live_transfer" and outcome.urgency == "emergency"
    transfers = w.publisher.on("telephony.transfers")
    assert [(t.call_id, t.clinician_id) for t in transfers] == [("c-77", "dr-ash")]
    assert w.paged() == [("dr-ash", 0, 1)]  # the secure message goes out as well


async def test_routine_in_office_hours_is_delivered_at_once_and_only_once() -> None:
    w = World()
    w.clock.current = datetime(2026, 1, 6, 15, 0, tzinfo=UTC)  # 10:00 in New York
    sms = SmsMessage(
        event_id=uuid.uuid4(),
        practice_id="p-1",
        source_system="sms",
        received_at=w.clock.current,
        caller=Caller(type=CallerType.PATIENT),
        reason=CallReason.APPOINTMENT,
    )
    assert (await handle_intake(w.svc, sms)).action == "deliver_to_office"
    assert (await handle_intake(w.svc, sms)).action == "duplicate"
    released = w.publisher.on("office.held")
    assert len(released) == 1 and released[0].held is False
    assert await w.timers.pending() == 0


async def test_refused_acks_are_counted_and_audited() -> None:
    w = World()
    outcome = await handle_intake(w.svc, call())
    assert outcome.dispatch_id
    await handle_ack(w.svc, ack(outcome.dispatch_id, "dr-ash", AckKind.ACCEPTED))
    await handle_ack(w.svc, ack(outcome.dispatch_id, "dr-birch", AckKind.ACCEPTED))
    refused = [a for a in w.audit.entries if a.action.endswith("_refused")]  # type: ignore[attr-defined]
    assert len(refused) == 1 and refused[0].actor == "dr-birch"  # type: ignore[attr-defined]
    value = w.svc.metrics.registry.get_sample_value(
        "nightline_illegal_transitions_total", {"reason": "illegal"}
    )
    assert value == 1.0


async def test_no_device_receipt_fails_over_before_the_ack_timeout() -> None:
    w = World(timeout_s=300, repeats=1)
    w.svc.receipt_timeout_s = 30
    outcome = await handle_intake(w.svc, call())
    assert outcome.dispatch_id
    await w.tick(29)
    assert w.paged() == [("dr-ash", 0, 1)]
    await w.tick(2)  # 31 s: nobody's phone said "received"
    assert w.paged() == [("dr-ash", 0, 1), ("dr-birch", 2, 1)]


async def test_a_device_receipt_keeps_the_ack_timeout() -> None:
    w = World(timeout_s=300, repeats=1)
    w.svc.receipt_timeout_s = 30
    outcome = await handle_intake(w.svc, call())
    assert outcome.dispatch_id
    await handle_ack(w.svc, ack(outcome.dispatch_id, "dr-ash", AckKind.RECEIVED))
    await w.tick(60)
    assert w.paged() == [("dr-ash", 0, 1)]
    await w.tick(241)  # the ack timeout: re-page the same clinician
    assert w.paged() == [("dr-ash", 0, 1), ("dr-ash", 1, 2)]


async def test_a_slow_push_does_not_hold_the_agent_and_escalates_when_it_fails() -> None:
    import asyncio

    from engine.ports import PushResult

    w = World()
    w.svc.push_wait_s = 0.01
    release = asyncio.Event()
    real_send = w.push.send

    async def stuck_for_ash(request):  # type: ignore[no-untyped-def]
        if request.device.clinician_id == "dr-ash":
            await release.wait()  # a provider that hangs until the test lets go
            return PushResult(ok=False, detail="apns 0 ReadTimeout")
        return await real_send(request)

    w.push.send = stuck_for_ash  # type: ignore[method-assign]
    outcome = await asyncio.wait_for(handle_intake(w.svc, call()), timeout=5)
    assert outcome.action == "dispatch"  # the handler returned while the push still hung
    assert w.paged() == []
    release.set()
    for _ in range(100):  # let the background task finish and escalate
        await asyncio.sleep(0.01)
        if w.paged():
            break
    assert [p[0] for p in w.paged()] == ["dr-birch"]


async def test_displayed_counts_as_a_receipt() -> None:
    w = World()
    w.svc.receipt_timeout_s = 30
    outcome = await handle_intake(w.svc, call())
    assert outcome.dispatch_id is not None
    await handle_ack(w.svc, ack(outcome.dispatch_id, "dr-ash", AckKind.DISPLAYED))
    await w.tick(31)  # past the receipt deadline: the displayed receipt holds the level
    assert [p[0] for p in w.paged()] == ["dr-ash"]
