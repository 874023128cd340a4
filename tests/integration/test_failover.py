"""Workers dying with timers pending, on the real Kafka and Redis.

Two workers of one deployment share the partitions; one is SIGKILLed while dispatches
wait on their deadlines, and the other takes over the partitions and the timers. And a
worker that claimed a timer dies before firing it: the claim's lease runs out and
another worker fires it, once.

"Once" is read from the ``dispatch.state`` topic: delivery is at least once, so events
are de-duplicated by event id (an id names a dispatch and version, so copies must be
identical), and then each dispatch's versions must be consecutive and no (trigger,
step) may repeat.
"""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from engine.adapters.redis_store import to_ms
from engine.handlers.intake import dispatch_id_for
from engine.handlers.timers import ack_timer_member
from engine.settings import Settings
from tests.integration import scenario_data as data
from tests.integration.harness import Harness, wait_for

LEASE_S = 3.0  # NIGHTLINE_TIMER_LEASE_S of the harness


def group_members(h: Harness) -> int:
    """Members of the deployment's consumer group, once the group is stable (else 0)."""
    admin = KafkaAdminClient(bootstrap_servers=h.settings.kafka_servers)
    try:
        group = admin.describe_groups([h.prefix])[h.prefix]
    finally:
        admin.close()
    return len(group["members"]) if group["group_state"] == "Stable" else 0


def state_events(h: Harness, dispatch_ids: list[str]) -> dict[str, list[Any]]:
    """Each dispatch's state events, one per event id, by version. An event id is the
    dispatch and version, so a redelivered copy must say exactly what the first said."""
    unique: dict[Any, Any] = {}
    for event in h.read("dispatch.state"):
        if event.dispatch_id in dispatch_ids:
            first = unique.setdefault(event.event_id, event)
            assert event == first, f"two different events at one version: {first} / {event}"
    found: dict[str, list[Any]] = defaultdict(list)
    for event in sorted(unique.values(), key=lambda e: e.version):
        found[event.dispatch_id].append(event)
    return found


def assert_each_step_once(events: dict[str, list[Any]], dispatch_ids: list[str]) -> None:
    for dispatch_id in dispatch_ids:
        versions = [e.version for e in events[dispatch_id]]
        assert versions == list(range(1, len(versions) + 1)), (dispatch_id, versions)
        steps = [(e.trigger, e.step) for e in events[dispatch_id]]
        assert len(set(steps)) == len(steps), (dispatch_id, steps)


def clock_now(h: Harness) -> datetime:
    """The deployment's clock: system time plus the shared offset."""
    return datetime.now(UTC) + timedelta(seconds=float(h.redis.get(h.keys.clock_offset) or 0))


def test_two_workers_fail_over_and_each_step_happens_once(own_harness: Harness) -> None:
    h = own_harness
    h.load_practice(
        data.practice("p-fo", timeout_s=4.0, repeats=1), data.devices_for("dr-ash", "dr-birch")
    )
    h.start_worker()
    other = h.spawn_worker("second")
    try:
        wait_for(lambda: group_members(h) == 2, 60, "both workers in the consumer group")
        events = [data.urgent_call("p-fo") for _ in range(6)]
        for event in events:
            h.producer.send_intake(event)
        ids = [dispatch_id_for(e.event_id) for e in events]
        wait_for(lambda: all(h.pushes(d) for d in ids), 30, "first pages")
        time.sleep(2.0)  # halfway to the first deadlines: some timers may be claimed already
        h.kill_worker()  # SIGKILL the first worker, its partitions and claims with it
        assert other.poll() is None, "the second worker died too"

        def alerts() -> list[Any]:
            unique = {a.event_id: a for a in h.read("operator.alerts") if a.dispatch_id in ids}
            return (
                list(unique.values())
                if {a.dispatch_id for a in unique.values()} == set(ids)
                else []
            )

        found = wait_for(alerts, 120, "every dispatch at the operator desk")
        assert sorted(a.dispatch_id for a in found) == sorted(ids)  # once each
        events_by_dispatch = state_events(h, ids)
        assert_each_step_once(events_by_dispatch, ids)
        for dispatch_id in ids:
            paged = {(p["step"], p["clinician_id"]) for p in h.pushes(dispatch_id)}
            assert paged == {(0, "dr-ash"), (1, "dr-ash"), (2, "dr-birch"), (3, "dr-birch")}
            assert events_by_dispatch[dispatch_id][-1].to_status == "operator"
    finally:
        os.killpg(other.pid, signal.SIGKILL)
        other.wait(timeout=30)


@pytest.fixture()
def ack_timers_only(stack_settings: Settings, tmp_path: Path) -> Iterator[Harness]:
    """A deployment without device receipt deadlines: only ack timers are set."""
    h = Harness(stack_settings, tmp_path, {"NIGHTLINE_RECEIPT_TIMEOUT_S": "off"})
    yield h
    h.close()


def test_a_timer_claimed_by_a_dead_worker_fires_once_after_its_lease(
    ack_timers_only: Harness,
) -> None:
    h = ack_timers_only
    h.load_practice(
        data.practice("p-lease", timeout_s=600, repeats=1), data.devices_for("dr-ash", "dr-birch")
    )
    h.start_worker()
    event = data.urgent_call("p-lease")
    h.producer.send_intake(event)
    dispatch_id = dispatch_id_for(event.event_id)
    wait_for(lambda: h.pushes(dispatch_id), 30, "the first page")
    member = ack_timer_member(dispatch_id, 0, page=1)  # the first page's ack deadline
    assert h.redis.zscore(h.keys.timers, member) is not None
    assert h.process is not None
    os.killpg(h.process.pid, signal.SIGSTOP)  # the live worker must not race the claim below
    try:
        h.redis.incrbyfloat(h.keys.clock_offset, 601)  # the ack deadline has passed
        claimed_at = clock_now(h)
        lease_end = claimed_at + timedelta(seconds=LEASE_S)
        # a worker claims it (the claim re-scores it to its lease end), then dies unfired
        due = h.redis.zrangebyscore(h.keys.timers, "-inf", to_ms(claimed_at))
        assert due == [member.encode()]
        h.redis.zadd(h.keys.timers, {member: to_ms(lease_end)})
    finally:
        os.killpg(h.process.pid, signal.SIGCONT)
    repaged = wait_for(
        lambda: [p for p in h.pushes(dispatch_id) if p["step"] == 1], 30, "the re-page"
    )
    events = wait_for(
        lambda: [e for e in state_events(h, [dispatch_id])[dispatch_id] if e.step == 1],
        15,
        "the re-page's state event",
    )
    # fired once, in the worker, and only once the dead worker's claim had lapsed
    assert [(e.trigger, e.at >= lease_end) for e in events] == [("ack_timeout", True)]
    assert len(repaged) == 1
    assert_each_step_once(state_events(h, [dispatch_id]), [dispatch_id])
