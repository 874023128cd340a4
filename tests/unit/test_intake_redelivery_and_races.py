"""Intake under redelivery, reuse and races: one dispatch per event, found again by a
redelivery; a reused event id never swaps the message a running dispatch pages with,
even when it races the first delivery; data remembered by older versions still counts
as a duplicate; settings reach the plan; a plain urgent call is never patched through.

Found by the mutation audit (``make mutation``). Synthetic ids only.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from engine.fakes import MemoryHeldStore
from engine.handlers.intake import IntakeConflictError, handle_intake
from engine.schemas.intake import Caller, CallerType, CallReason, SmsMessage
from tests.unit.handler_world import NIGHT, World, call


def _refill(message: str = "") -> SmsMessage:
    """A routine message: held at night, delivered in office hours."""
    return SmsMessage(
        event_id=uuid.uuid4(),
        practice_id="p-1",
        source_system="sms",
        received_at=NIGHT,
        caller=Caller(type=CallerType.PATIENT),
        reason=CallReason.PRESCRIPTION_REFILL,
        message=message,
    )


async def test_each_call_gets_its_own_dispatch_and_a_redelivery_finds_it() -> None:
    w = World()
    first, second = call(), call()
    one = await handle_intake(w.svc, first)
    two = await handle_intake(w.svc, second)
    assert one.dispatch_id and two.dispatch_id and one.dispatch_id != two.dispatch_id
    assert [p.dispatch_id for p in w.push.sent] == [one.dispatch_id, two.dispatch_id]
    again = await handle_intake(w.svc, first)
    assert (again.action, again.urgency, again.dispatch_id) == (
        "duplicate", "urgent", one.dispatch_id,
    )  # fmt: skip
    assert len(w.push.sent) == 2


async def test_an_ordinary_urgent_call_is_not_patched_through() -> None:
    w = World()
    outcome = await handle_intake(w.svc, call())
    assert outcome.action == "dispatch"
    assert w.publisher.on("telephony.transfers") == []


async def test_a_reused_event_id_racing_the_first_delivery_keeps_the_first_message() -> None:
    """The second delivery looked before the first committed: it must not replace the
    message the first dispatch pages with, and ends as a conflict, not a duplicate."""
    w = World()
    first = call(message="first message")
    dispatch_id = (await handle_intake(w.svc, first)).dispatch_id
    assert dispatch_id is not None
    real_load = w.svc.dispatches.load

    async def not_yet_committed(wanted: str):  # type: ignore[no-untyped-def]
        w.svc.dispatches.load = real_load  # type: ignore[method-assign]
        return None

    w.svc.dispatches.load = not_yet_committed  # type: ignore[method-assign]
    with pytest.raises(IntakeConflictError):
        await handle_intake(w.svc, first.model_copy(update={"message": "another message"}))
    assert w.vault.contents[dispatch_id].message == "first message"
    assert len(w.push.sent) == 1


async def test_a_redelivery_racing_the_first_delivery_is_a_duplicate() -> None:
    w = World()
    event = call()
    dispatch_id = (await handle_intake(w.svc, event)).dispatch_id
    real_load = w.svc.dispatches.load

    async def not_yet_committed(wanted: str):  # type: ignore[no-untyped-def]
        w.svc.dispatches.load = real_load  # type: ignore[method-assign]
        return None

    w.svc.dispatches.load = not_yet_committed  # type: ignore[method-assign]
    outcome = await handle_intake(w.svc, event)
    assert (outcome.action, outcome.dispatch_id) == ("duplicate", dispatch_id)
    assert len(w.push.sent) == 1


async def test_a_dispatch_stored_before_fingerprints_were_kept_cannot_vouch_for_a_redelivery() -> (
    None
):
    """Its content cannot be compared, so the record is a conflict (which reaches the
    desk), never silently a duplicate of something else."""
    w = World()
    event = call()
    dispatch_id = (await handle_intake(w.svc, event)).dispatch_id
    assert dispatch_id is not None
    row = w.svc.dispatches.rows[dispatch_id]  # type: ignore[attr-defined]
    row.meta.pop("fingerprint")  # as an older version stored it
    with pytest.raises(IntakeConflictError):
        await handle_intake(w.svc, event)
    assert len(w.push.sent) == 1


async def test_a_message_remembered_before_fingerprints_were_kept_is_a_conflict() -> None:
    w = World()
    refill = _refill()
    w.svc.held.seen[f"intake:{refill.event_id}"] = "1"  # type: ignore[attr-defined]
    with pytest.raises(IntakeConflictError):
        await handle_intake(w.svc, refill)
    assert w.publisher.on("office.held") == []


async def test_two_routine_messages_are_both_held_and_each_redelivery_is_a_duplicate() -> None:
    w = World()
    first, second = _refill(message="refill one"), _refill(message="refill two")
    outcomes = [await handle_intake(w.svc, m) for m in (first, second, first, second)]
    assert [(o.action, o.urgency) for o in outcomes] == [
        ("hold_for_office", "routine"),
        ("hold_for_office", "routine"),
        ("duplicate", "routine"),
        ("duplicate", "routine"),
    ]
    held = w.publisher.on("office.held")
    assert [h.intake_event_id for h in held] == [first.event_id, second.event_id]


async def test_a_routine_message_is_remembered_for_the_configured_window() -> None:
    class RecordingHeldStore(MemoryHeldStore):
        windows: list[int] = []

        async def mark_seen(self, key: str, ttl_s: int, value: str = "1") -> bool:
            self.windows.append(ttl_s)
            return await super().mark_seen(key, ttl_s, value)

    w = World()
    w.svc.held = RecordingHeldStore(w.timers)
    w.svc.dedupe_ttl_s = 3600
    await handle_intake(w.svc, _refill())
    assert RecordingHeldStore.windows == [3600]


async def test_the_desk_is_re_alerted_on_the_configured_desk_timeout() -> None:
    w = World(timeout_s=60, repeats=1)
    w.svc.desk_timeout_s = 300
    await w.urgent_call()
    for _ in range(4):  # primary twice, backup twice, then the desk
        await w.tick(61)
    assert len(w.desk_alerts()) == 1
    await w.tick(240)
    assert len(w.desk_alerts()) == 1
    await w.tick(61)
    assert [a.alert for a in w.desk_alerts()] == [1, 2]


async def test_the_first_page_is_audited_with_the_rule_that_chose_the_clinician() -> None:
    w = World()
    await w.urgent_call()
    [started] = w.audit.entries  # type: ignore[attr-defined]
    assert "dr-ash (primary of the default list)" in started.detail


async def test_a_caller_without_a_callback_number_gets_an_empty_one_on_the_phone() -> None:
    w = World()
    dispatch_id = (await handle_intake(w.svc, call())).dispatch_id
    assert dispatch_id is not None
    assert w.vault.contents[dispatch_id].callback_number == ""


async def test_a_held_message_keeps_its_release_time_on_redelivery() -> None:
    w = World()
    refill = _refill()
    await handle_intake(w.svc, refill)
    await handle_intake(w.svc, refill)
    [held] = w.publisher.on("office.held")
    assert held.release_at == datetime.fromisoformat("2026-01-06T13:00:00+00:00")
    assert await w.timers.pending() == 1
