"""Held-for-office release on the shared test clock (scenario e) and durable
timers across a SIGKILL (scenario i), each on a deployment of its own."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from engine.handlers.intake import dispatch_id_for
from tests.integration import scenario_data as data
from tests.integration.harness import Harness, wait_for

NEW_YORK = ZoneInfo("America/New_York")


def _next_saturday_night(after: datetime) -> datetime:
    local = after.astimezone(NEW_YORK)
    days = (5 - local.weekday()) % 7 or 7
    return (local + timedelta(days=days)).replace(hour=22, minute=0, second=0, microsecond=0)


def test_e_routine_at_night_is_held_and_released_at_opening(own_harness: Harness) -> None:
    h = own_harness
    h.load_practice(data.practice("p-e"), data.devices_for("dr-ash"))
    saturday_night = _next_saturday_night(datetime.now(UTC))
    h.advance_clock((saturday_night - datetime.now(UTC)).total_seconds())
    h.start_worker()
    event = data.routine_sms("p-e", saturday_night.astimezone(UTC))
    h.producer.send_intake(event)
    held = wait_for(
        lambda: [e for e in h.read("office.held") if e.intake_event_id == event.event_id],
        15,
        "held for office",
    )
    monday_open = (saturday_night + timedelta(days=2)).replace(hour=8, minute=0)
    assert type(held[0]).__name__ == "HeldForOffice"
    assert held[0].release_at == monday_open
    h.advance_clock(3600)  # Sunday: still held
    time.sleep(1.0)
    assert len([e for e in h.read("office.held") if e.intake_event_id == event.event_id]) == 1
    now = datetime.now(UTC) + timedelta(seconds=float(h.redis.get(h.keys.clock_offset) or 0))
    h.advance_clock((monday_open - now).total_seconds() + 1)
    released = wait_for(
        lambda: [
            e
            for e in h.read("office.held")
            if e.intake_event_id == event.event_id and type(e).__name__ == "ReleasedToOffice"
        ],
        15,
        "release",
    )
    assert released[0].held is True
    assert h.pushes() == []  # routine messages never page anyone


def test_i_sigkill_with_pending_timers_still_escalates_once_per_step(own_harness: Harness) -> None:
    h = own_harness
    h.load_practice(
        data.practice("p-i", timeout_s=4.0, repeats=1), data.devices_for("dr-ash", "dr-birch")
    )
    h.start_worker()
    events = [data.urgent_call("p-i") for _ in range(3)]
    for event in events:
        h.producer.send_intake(event)
    ids = [dispatch_id_for(e.event_id) for e in events]
    wait_for(lambda: all(h.pushes(d) for d in ids), 15, "first pages")
    h.kill_worker()  # SIGKILL with three dispatches waiting on their deadlines
    assert int(h.redis.zcard(h.keys.timers)) >= 3
    h.start_worker()
    wait_for(
        lambda: len([a for a in h.read("operator.alerts") if a.dispatch_id in ids]) == 3,
        60,
        "every dispatch to reach the operator desk",
    )
    for dispatch_id in ids:
        steps = Counter((p["step"], p["clinician_id"]) for p in h.pushes(dispatch_id))
        assert steps == Counter(
            {(0, "dr-ash"): 1, (1, "dr-ash"): 1, (2, "dr-birch"): 1, (3, "dr-birch"): 1}
        ), (dispatch_id, steps)
    alerts = [a for a in h.read("operator.alerts") if a.dispatch_id in ids]
    assert len(alerts) == 3
