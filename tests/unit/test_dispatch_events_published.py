"""What a dispatch sends out, field by field: the push requests, the state events, the
audit trail, the desk alerts and the transfer instruction, with ids that make a
redelivered input's copies recognisable, and the metrics operators watch.

Found by the mutation audit (``make mutation``): these fields were produced but no
unit test read them. Synthetic ids only.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from engine.handlers.commands import handle_ack
from engine.handlers.intake import handle_intake
from engine.schemas.acks import AckKind
from engine.schemas.intake import Caller, CallerType, CallReason, Urgency, VoiceCall
from tests.unit.handler_world import NIGHT, World, call, claim


def _sample(w: World, name: str, labels: dict[str, str]) -> float | None:
    return w.svc.metrics.registry.get_sample_value(name, labels)


def _live_transfer_world() -> World:
    """Emergencies with the caller on hold are patched through to the clinician."""
    w = World()
    rules = w.practice().triage.model_copy(update={"live_transfer_urgencies": [Urgency.EMERGENCY]})
    w.edit_practice(triage=rules)
    return w


def _caller_on_hold(call_id: str = "c-77") -> VoiceCall:
    return VoiceCall(
        event_id=uuid.uuid4(),
        practice_id="p-1",
        source_system="pbx",
        received_at=NIGHT,
        caller=Caller(type=CallerType.PATIENT),
        reason=CallReason.SYMPTOMS,
        message="baby is not breathing",
        call_id=call_id,
        caller_on_hold=True,
    )


async def test_every_push_carries_the_urgency_and_only_the_generic_lock_screen_text() -> None:
    w = World()
    dispatch_id = (await handle_intake(w.svc, call(message="ear pain since noon"))).dispatch_id
    [push] = w.push.sent
    assert (push.dispatch_id, push.urgency, push.step, push.attempt, push.page) == (
        dispatch_id, "urgent", 0, 1, 1,
    )  # fmt: skip
    assert push.alert_text == "Urgent message - open to view"


async def test_an_emergency_push_says_emergency_on_the_lock_screen() -> None:
    w = World()
    emergency = call().model_copy(update={"operator_urgency": Urgency.EMERGENCY})
    await handle_intake(w.svc, emergency)
    assert [(p.urgency, p.alert_text) for p in w.push.sent] == [
        ("emergency", "EMERGENCY message - open to view now")
    ]


async def test_state_events_name_the_intake_event_and_each_change() -> None:
    w = World()
    event = call()
    dispatch_id = await w.urgent_call(event_id=event.event_id)
    await w.ack(dispatch_id, "dr-ash", AckKind.ACCEPTED)
    events = w.publisher.on("dispatch.state")
    assert [e.intake_event_id for e in events] == [event.event_id, event.event_id]
    assert [(e.from_status, e.to_status, e.step, e.version) for e in events] == [
        (None, "sent", 0, 1),
        ("sent", "accepted", 0, 2),
    ]
    assert [e.level_name for e in events] == ["primary", "primary"]
    keys = [key for topic, key, _ in w.publisher.published if topic == "dispatch.state"]
    assert keys == [dispatch_id, dispatch_id]


async def test_state_and_audit_ids_differ_per_dispatch_and_per_version() -> None:
    w = World()
    first = await w.urgent_call()
    await w.urgent_call()  # a second dispatch
    await w.ack(first, "dr-ash", AckKind.ACCEPTED)
    state_ids = [e.event_id for e in w.publisher.on("dispatch.state")]
    audit_ids = [e.event_id for e in w.audit.entries]  # type: ignore[attr-defined]
    assert len(set(state_ids)) == len(state_ids) == 3
    assert len(set(audit_ids)) == len(audit_ids) == 3


async def test_a_rerun_of_the_outbox_repeats_every_event_with_the_same_id() -> None:
    """A failure after the effects ran but before they were marked done: the run gives
    up its claims, so the redelivery runs them again, and every copy has the id of the
    first, so consumers can drop it."""
    w = _live_transfer_world()
    event = _caller_on_hold()
    real_complete = w.svc.dispatches.complete_effects

    async def crash_once(dispatch_id: str, effect_ids: list[str]) -> None:
        w.svc.dispatches.complete_effects = real_complete  # type: ignore[method-assign]
        raise RuntimeError("worker died")

    w.svc.dispatches.complete_effects = crash_once  # type: ignore[method-assign]
    await handle_intake(w.svc, event)  # committed: what failed after is left in the outbox
    assert len(w.publisher.on("dispatch.state")) == 1
    await handle_intake(w.svc, event)  # Kafka redelivers
    transfers = w.publisher.on("telephony.transfers")
    states = w.publisher.on("dispatch.state")
    audits = w.audit.entries  # type: ignore[attr-defined]
    assert len(transfers) == len(states) == len(audits) == 2
    assert transfers[0].event_id == transfers[1].event_id
    assert states[0].event_id == states[1].event_id
    assert audits[0].event_id == audits[1].event_id
    assert states[0].at == states[1].at and states[0].version == states[1].version
    assert await handle_intake(w.svc, event) and len(w.publisher.on("dispatch.state")) == 2


async def test_the_audit_trail_records_each_change_of_the_dispatch() -> None:
    w = World(timeout_s=60, repeats=1)
    dispatch_id = await w.urgent_call()
    await w.tick(61)
    await w.ack(dispatch_id, "dr-ash", AckKind.ACCEPTED, page=2)
    trail = [
        (e.subject_type, e.subject_id, e.practice_id, e.actor, e.action, e.from_status,
         e.to_status, e.step)
        for e in w.audit.entries  # type: ignore[attr-defined]
    ]  # fmt: skip
    assert trail == [
        ("dispatch", dispatch_id, "p-1", "system", "page_sent", None, "sent", 0),
        ("dispatch", dispatch_id, "p-1", "system", "ack_timeout", "sent", "sent", 1),
        ("dispatch", dispatch_id, "p-1", "dr-ash", "accepted", "sent", "accepted", 1),
    ]
    times = [e.at for e in w.audit.entries]  # type: ignore[attr-defined]
    assert times == [NIGHT, NIGHT + timedelta(seconds=61), NIGHT + timedelta(seconds=61)]


async def test_refused_inputs_are_audited_each_with_its_own_id() -> None:
    w = World()
    dispatch_id = await w.urgent_call()
    await w.ack(dispatch_id, "dr-ash", AckKind.ACCEPTED)
    for _ in range(2):
        await w.ack(dispatch_id, "dr-birch", AckKind.ACCEPTED)
    refused = [e for e in w.audit.entries if e.action == "accepted_refused"]  # type: ignore[attr-defined]
    assert len(refused) == 2 and refused[0].event_id != refused[1].event_id
    assert [(e.from_status, e.to_status, e.step) for e in refused] == [
        ("accepted", "accepted", 0)
    ] * 2


async def test_the_desk_alert_names_the_desk_the_page_and_the_intake() -> None:
    w = World(timeout_s=60, repeats=1)
    event = call()
    dispatch_id = await w.urgent_call(event_id=event.event_id)
    other = await w.urgent_call()
    for _ in range(4):  # primary twice, backup twice, then the desk
        await w.tick(61)
    by_dispatch = {a.dispatch_id: a for a in w.desk_alerts()}
    alert, other_alert = by_dispatch[dispatch_id], by_dispatch[other]
    assert (alert.practice_id, alert.desk_id, alert.alert, alert.page) == ("p-1", "desk-9", 1, 5)
    assert alert.intake_event_id == event.event_id and alert.urgency is Urgency.URGENT
    assert alert.reason == "no acknowledgement" and alert.at == NIGHT + timedelta(seconds=4 * 61)
    assert other_alert.event_id != alert.event_id
    keys = [key for topic, key, _ in w.publisher.published if topic == "operator.alerts"]
    assert keys == ["p-1", "p-1"]
    await w.tick(61)  # nobody claimed it: a re-alert, a new event
    [second] = [a for a in w.desk_alerts()[2:] if a.dispatch_id == dispatch_id]
    assert (second.alert, second.page) == (2, 6) and second.event_id != alert.event_id


async def test_a_desk_fallback_is_counted_once_by_reason() -> None:
    w = World(timeout_s=60, repeats=1)
    await w.urgent_call()
    for _ in range(4):  # four pages, then the desk
        await w.tick(61)
    reason = {"reason": "no_acknowledgement"}
    assert _sample(w, "nightline_operator_fallbacks_total", reason) == 1.0
    for _ in range(2):  # two re-alerts nobody claimed
        await w.tick(61)
    assert len(w.desk_alerts()) == 3
    assert _sample(w, "nightline_operator_fallbacks_total", reason) == 1.0


async def test_the_transfer_instruction_is_keyed_by_the_call() -> None:
    w = _live_transfer_world()
    dispatch_id = (await handle_intake(w.svc, _caller_on_hold("c-77"))).dispatch_id
    other_id = (await handle_intake(w.svc, _caller_on_hold("c-78"))).dispatch_id
    transfers = [
        (key, t) for topic, key, t in w.publisher.published if topic == "telephony.transfers"
    ]
    assert [(key, t.call_id, t.dispatch_id) for key, t in transfers] == [
        ("c-77", "c-77", dispatch_id), ("c-78", "c-78", other_id),
    ]  # fmt: skip
    first, second = (t for _, t in transfers)
    assert (first.practice_id, first.at, first.urgency) == ("p-1", NIGHT, Urgency.EMERGENCY)
    assert first.event_id != second.event_id  # one instruction per dispatch


async def test_pushes_are_counted_by_platform_and_outcome() -> None:
    w = World()
    w.push.failing_devices = {"dr-ash-phone"}
    await w.urgent_call()  # dr-ash's push fails: dr-birch is paged at once
    assert _sample(w, "nightline_pushes_total", {"platform": "ios", "outcome": "failed"}) == 1.0
    assert _sample(w, "nightline_pushes_total", {"platform": "ios", "outcome": "ok"}) == 1.0


async def test_a_gateway_exception_is_counted_as_a_failed_push() -> None:
    w = World()

    async def broken(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug in a gateway")

    w.push.send = broken  # type: ignore[method-assign]
    await w.urgent_call()
    failed = _sample(w, "nightline_pushes_total", {"platform": "ios", "outcome": "failed"})
    assert failed == 2.0  # dr-ash, then dr-birch; then the desk
    assert len(w.desk_alerts()) == 1


async def test_escalations_are_counted_by_the_level_reached_never_for_the_first_page() -> None:
    w = World(timeout_s=60, repeats=1)
    await w.urgent_call()
    assert _sample(w, "nightline_escalations_total", {"level": "primary"}) is None
    await w.tick(61)  # the primary's second page
    await w.tick(61)  # the backup
    assert _sample(w, "nightline_escalations_total", {"level": "primary"}) == 1.0
    assert _sample(w, "nightline_escalations_total", {"level": "backup"}) == 1.0
    for _ in range(2):  # the backup's second page, then the desk: no escalation counted
        await w.tick(61)
    assert _sample(w, "nightline_escalations_total", {"level": "backup"}) == 2.0
    assert _sample(w, "nightline_escalations_total", {"level": "operator"}) is None


async def test_an_escalation_nobody_was_reached_by_is_not_counted() -> None:
    w = World(timeout_s=60, repeats=1)
    await w.urgent_call()
    w.push.failing_devices = {"dr-ash-phone"}
    await w.tick(61)  # the re-page reaches nobody: the backup is paged at once
    assert _sample(w, "nightline_escalations_total", {"level": "primary"}) is None
    assert _sample(w, "nightline_escalations_total", {"level": "backup"}) == 1.0


async def test_call_to_push_is_observed_once_from_the_call_s_arrival() -> None:
    w = World(timeout_s=60)
    event = call(received_at=NIGHT - timedelta(seconds=0.5))
    await handle_intake(w.svc, event)
    await w.tick(61)  # later pages are not the call's first push
    count = _sample(w, "nightline_call_to_push_seconds_count", {"urgency": "urgent"})
    total = _sample(w, "nightline_call_to_push_seconds_sum", {"urgency": "urgent"})
    assert (count, total) == (1.0, 0.5)


async def test_call_to_push_is_not_observed_when_the_first_page_reaches_nobody() -> None:
    w = World(devices=("dr-birch",))
    await handle_intake(w.svc, call())
    assert _sample(w, "nightline_call_to_push_seconds_count", {"urgency": "urgent"}) is None


async def test_time_to_accept_is_observed_once_at_acceptance() -> None:
    w = World(timeout_s=60)
    dispatch_id = await w.urgent_call()
    w.clock.advance(0.25)
    await w.ack(dispatch_id, "dr-ash", AckKind.RECEIVED)
    assert _sample(w, "nightline_time_to_accept_seconds_count", {"urgency": "urgent"}) is None
    w.clock.advance(0.25)
    await w.ack(dispatch_id, "dr-ash", AckKind.ACCEPTED)
    count = _sample(w, "nightline_time_to_accept_seconds_count", {"urgency": "urgent"})
    total = _sample(w, "nightline_time_to_accept_seconds_sum", {"urgency": "urgent"})
    assert (count, total) == (1.0, 0.5)


async def test_a_claim_at_the_desk_names_the_operator_in_the_audit() -> None:
    w = World(timeout_s=60, repeats=1)
    dispatch_id = await w.urgent_call()
    for _ in range(4):
        await w.tick(61)
    await handle_ack(w.svc, claim(dispatch_id))
    last = w.audit.entries[-1]  # type: ignore[attr-defined]
    assert (last.actor, last.action, last.from_status, last.to_status) == (
        "op-1", "accepted", "operator", "accepted",
    )  # fmt: skip
