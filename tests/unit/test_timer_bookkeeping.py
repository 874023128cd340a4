"""The deadline index kept honest: the scanner turns due members into commands keyed by
their owner and drops garbage without stopping; a firing that changed nothing drops
its timer unless that timer is still the page's live deadline (a read moved it); any
input to a dispatch runs effects a crash left in the outbox; an input that lost a race
is decided again on the fresh state.

Found by the mutation audit (``make mutation``). Synthetic ids only.
"""

from __future__ import annotations

from datetime import timedelta

from engine.handlers.commands import handle_command
from engine.handlers.timers import (
    ack_timer_member,
    receipt_timer_member,
    release_timer_member,
    scan_due_timers,
)
from engine.schemas.acks import AckKind
from engine.schemas.dispatch import FireAckTimer, FireReceiptTimer, ReleaseHeldMessage
from tests.unit.handler_world import NIGHT, World

EARLIER = NIGHT - timedelta(seconds=5)


async def test_the_scanner_keys_each_command_by_the_dispatch_or_held_message() -> None:
    w = World()
    w.timers.add("ack|d-1|2|7", EARLIER)
    w.timers.add("rcpt|d-2|0|1", EARLIER + timedelta(seconds=1))
    w.timers.add("rel|p-1|h-3", EARLIER + timedelta(seconds=2))
    assert await scan_due_timers(w.svc) == 3
    fired = [(key, type(c).__name__) for _, key, c in w.publisher.published]
    assert fired == [
        ("d-1", "FireAckTimer"), ("d-2", "FireReceiptTimer"), ("h-3", "ReleaseHeldMessage"),
    ]  # fmt: skip
    ack, receipt, release = (c for _, _, c in w.publisher.published)
    assert (ack.dispatch_id, ack.step, ack.page, ack.due_at, ack.fired_at) == (
        "d-1", 2, 7, EARLIER, NIGHT,
    )  # fmt: skip
    assert (receipt.dispatch_id, receipt.step, receipt.page) == ("d-2", 0, 1)
    assert (release.held_id, release.practice_id) == ("h-3", "p-1")
    assert release.due_at == EARLIER + timedelta(seconds=2)


async def test_a_member_without_a_page_still_fires_for_its_step() -> None:
    w = World()
    w.timers.add("ack|d-1|3", EARLIER)  # written before pages were numbered
    await scan_due_timers(w.svc)
    [(_, key, command)] = w.publisher.published
    assert (key, command.dispatch_id, command.step, command.page) == ("d-1", "d-1", 3, None)


async def test_the_members_the_handlers_write_are_the_ones_the_scanner_reads() -> None:
    w = World()
    w.timers.add(ack_timer_member("d-1", 1, 2), EARLIER)
    w.timers.add(receipt_timer_member("d-1", 1, 2), EARLIER + timedelta(seconds=1))
    w.timers.add(ack_timer_member("d-2", 4), EARLIER + timedelta(seconds=2))
    w.timers.add(release_timer_member("p-1", "h-1"), EARLIER + timedelta(seconds=3))
    await scan_due_timers(w.svc)
    fired = [c for _, _, c in w.publisher.published]
    assert [(type(c), c.dispatch_id, c.step, c.page) for c in fired[:3]] == [
        (FireAckTimer, "d-1", 1, 2),
        (FireReceiptTimer, "d-1", 1, 2),
        (FireAckTimer, "d-2", 4, None),
    ]
    assert isinstance(fired[3], ReleaseHeldMessage) and fired[3].held_id == "h-1"


async def test_garbage_members_are_dropped_and_the_scan_goes_on() -> None:
    w = World()
    garbage = ["junk", "ack|d-1|x", "ack|d-1|0|x", "rel|p-1", "other|d-1|5", "rcpt|d-1"]
    for i, member in enumerate(garbage):
        w.timers.add(member, EARLIER + timedelta(milliseconds=i))
    w.timers.add("ack|d-9|0|1", NIGHT)  # a real one, due after the garbage
    assert await scan_due_timers(w.svc) == len(garbage) + 1
    assert [(key, c.dispatch_id) for _, key, c in w.publisher.published] == [("d-9", "d-9")]
    assert set(w.timers.timers) == {"ack|d-9|0|1"}  # claimed, waiting for its handler


async def test_the_scanner_claims_no_more_than_its_limit() -> None:
    w = World()
    for i in range(3):
        w.timers.add(f"ack|d-{i}|0|1", EARLIER + timedelta(seconds=i))
    assert await scan_due_timers(w.svc, limit=2) == 2
    assert [key for _, key, _ in w.publisher.published] == ["d-0", "d-1"]


async def test_a_stale_firing_drops_its_timer_from_the_index() -> None:
    w = World(timeout_s=60)
    dispatch_id = await w.urgent_call()
    await w.tick(61)  # the second page: the first page's deadline is void
    old = ack_timer_member(dispatch_id, 0, 1)
    w.timers.add(old, NIGHT + timedelta(seconds=60))  # a claim of it still lingering
    stale = FireAckTimer(
        dispatch_id=dispatch_id, step=0, page=1, due_at=NIGHT + timedelta(seconds=60),
        fired_at=w.clock.now(),
    )  # fmt: skip
    await handle_command(w.svc, stale)
    assert old not in w.timers.timers
    assert len(w.paged()) == 2


async def test_a_firing_for_a_deadline_a_read_moved_keeps_the_moved_timer() -> None:
    """The scanner fired the first deadline just as a read paused re-paging: the firing
    is stale, but the page's timer (now later) must stay, or nobody is paged again."""
    w = World(timeout_s=60)
    dispatch_id = await w.urgent_call()
    stored = w.svc.dispatches.rows[dispatch_id]  # type: ignore[attr-defined]
    for step in stored.state["plan"]["steps"]:
        step["read_grace_seconds"] = 60.0  # as a policy with a read grace plans it
    w.clock.advance(10)
    await w.ack(dispatch_id, "dr-ash", AckKind.READ)  # deadline now 10 + 60 s
    w.clock.advance(51)
    first_deadline = FireAckTimer(
        dispatch_id=dispatch_id, step=0, page=1, due_at=NIGHT + timedelta(seconds=60),
        fired_at=w.clock.now(),
    )  # fmt: skip
    await handle_command(w.svc, first_deadline)
    assert ack_timer_member(dispatch_id, 0, 1) in w.timers.timers
    assert len(w.paged()) == 1
    await w.tick(10)  # past the moved deadline
    assert w.paged() == [("dr-ash", 0, 1), ("dr-ash", 1, 2)]


async def test_a_firing_for_a_dispatch_that_does_not_exist_drops_its_timer() -> None:
    w = World()
    member = ack_timer_member("d-gone", 0, 1)
    w.timers.add(member, EARLIER)
    command = FireAckTimer(dispatch_id="d-gone", step=0, page=1, due_at=EARLIER, fired_at=NIGHT)
    assert await handle_command(w.svc, command) is None
    assert await w.timers.pending() == 0


async def test_timer_lateness_is_observed_by_kind_for_firings_that_acted() -> None:
    w = World(timeout_s=60)
    w.svc.receipt_timeout_s = 20
    dispatch_id = await w.urgent_call()
    w.clock.advance(20.5)  # the receipt deadline passed half a second ago
    receipt = FireReceiptTimer(
        dispatch_id=dispatch_id, step=0, page=1, due_at=NIGHT + timedelta(seconds=20),
        fired_at=w.clock.now(),
    )  # fmt: skip
    await handle_command(w.svc, receipt)
    await handle_command(w.svc, receipt)  # a redelivery: stale, not observed again
    registry = w.svc.metrics.registry
    count = registry.get_sample_value("nightline_timer_lateness_seconds_count", {"kind": "receipt"})
    total = registry.get_sample_value("nightline_timer_lateness_seconds_sum", {"kind": "receipt"})
    assert (count, total) == (1.0, 0.5)
    assert (
        registry.get_sample_value("nightline_timer_lateness_seconds_count", {"kind": "ack"}) is None
    )


async def test_an_on_time_firing_is_observed_as_not_late() -> None:
    w = World(timeout_s=60)
    dispatch_id = await w.urgent_call()
    w.clock.advance(60)
    on_time = FireAckTimer(
        dispatch_id=dispatch_id, step=0, page=1, due_at=w.clock.now() + timedelta(seconds=1),
        fired_at=w.clock.now(),
    )  # fmt: skip
    await handle_command(w.svc, on_time)
    registry = w.svc.metrics.registry
    assert registry.get_sample_value("nightline_timer_lateness_seconds_sum", {"kind": "ack"}) == 0


async def test_an_unchanged_input_runs_the_effects_a_crash_left_in_the_outbox() -> None:
    """The re-page was committed but the worker died before pushing it; the next input
    for the dispatch (a late, repeated receipt of the first page) sends it."""
    w = World(timeout_s=60)
    dispatch_id = await w.urgent_call()
    await w.ack(dispatch_id, "dr-ash", AckKind.RECEIVED, page=1)
    real_lookup = w.svc.devices.devices_for

    async def crash_once(clinician_ids):  # type: ignore[no-untyped-def]
        w.svc.devices.devices_for = real_lookup  # type: ignore[method-assign]
        raise RuntimeError("worker died")

    w.svc.devices.devices_for = crash_once  # type: ignore[method-assign]
    w.clock.advance(61)
    due = FireAckTimer(
        dispatch_id=dispatch_id, step=0, page=1, due_at=NIGHT + timedelta(seconds=60),
        fired_at=w.clock.now(),
    )  # fmt: skip
    await handle_command(w.svc, due)
    assert len(w.paged()) == 1  # committed, not sent
    w.clock.advance(w.svc.effect_lease_s + 1)  # the failed run's claim lapses
    await w.ack(dispatch_id, "dr-ash", AckKind.RECEIVED, page=1)
    assert w.paged() == [("dr-ash", 0, 1), ("dr-ash", 1, 2)]


async def test_an_input_that_lost_a_race_is_decided_again_on_the_fresh_state() -> None:
    """A timer fires while the clinician's acceptance commits first: the timer is
    decided again, finds the dispatch accepted, and pages nobody."""
    w = World(timeout_s=60)
    dispatch_id = await w.urgent_call()
    real_commit = w.svc.dispatches.commit
    raced = False

    async def accepted_meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal raced
        if not raced:
            raced = True
            w.svc.dispatches.commit = real_commit  # type: ignore[method-assign]
            await w.ack(dispatch_id, "dr-ash", AckKind.ACCEPTED)
        return await real_commit(*args, **kwargs)

    w.svc.dispatches.commit = accepted_meanwhile  # type: ignore[method-assign]
    await w.tick(61)
    assert raced and len(w.paged()) == 1
    assert [to for _, to in w.states(dispatch_id)] == ["sent", "accepted"]
    assert await w.timers.pending() == 0
