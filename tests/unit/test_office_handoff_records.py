"""What holding, delivering and releasing a routine message leaves behind: the office
topic keyed by practice, an audit entry per step, the held-messages counter, and no
timer or record once the message is out.

Found by the mutation audit (``make mutation``). Synthetic ids only.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from engine.handlers.office import deliver_to_office, hold_for_office, release_held
from engine.schemas.dispatch import ReleaseHeldMessage
from tests.unit.handler_world import NIGHT, World

OPENING = datetime(2026, 1, 6, 13, 0, tzinfo=UTC)  # 08:00 in New York


def _count(w: World, outcome: str) -> float | None:
    registry = w.svc.metrics.registry
    return registry.get_sample_value("nightline_held_messages_total", {"outcome": outcome})


def _trail(w: World) -> list[tuple[str, str, str, str, str, str | None, str]]:
    return [
        (e.subject_type, e.subject_id, e.practice_id, e.actor, e.action, e.to_status, e.detail)
        for e in w.audit.entries  # type: ignore[attr-defined]
    ]


async def test_holding_publishes_audits_counts_and_sets_one_release_timer() -> None:
    w = World()
    event_id = uuid.uuid4()
    assert await hold_for_office(w.svc, "p-1", event_id, OPENING) is True
    [(topic, key, held)] = w.publisher.published
    assert (topic, key) == ("office.held", "p-1")
    assert (held.practice_id, held.intake_event_id, held.release_at, held.at) == (
        "p-1", event_id, OPENING, NIGHT,
    )  # fmt: skip
    assert _trail(w) == [
        ("held_message", held.held_id, "p-1", "engine", "held_for_office", "held",
         "release at 2026-01-06T13:00:00+00:00"),
    ]  # fmt: skip
    assert _count(w, "held") == 1.0
    assert list(w.timers.timers) == [f"rel|p-1|{held.held_id}"]


async def test_holding_the_same_message_twice_holds_it_once() -> None:
    w = World()
    event_id = uuid.uuid4()
    assert await hold_for_office(w.svc, "p-1", event_id, OPENING) is True
    assert await hold_for_office(w.svc, "p-1", event_id, OPENING) is False
    assert len(w.publisher.published) == 1 and len(w.audit.entries) == 1  # type: ignore[attr-defined]
    assert _count(w, "held") == 1.0 and await w.timers.pending() == 1


async def test_two_messages_are_held_apart() -> None:
    w = World()
    first, second = uuid.uuid4(), uuid.uuid4()
    await hold_for_office(w.svc, "p-1", first, OPENING)
    await hold_for_office(w.svc, "p-1", second, OPENING)
    held = w.publisher.on("office.held")
    assert [h.intake_event_id for h in held] == [first, second]
    assert held[0].held_id != held[1].held_id and await w.timers.pending() == 2


async def test_delivering_in_office_hours_publishes_audits_and_counts() -> None:
    w = World()
    event_id = uuid.uuid4()
    await deliver_to_office(w.svc, "p-1", event_id)
    [(topic, key, released)] = w.publisher.published
    assert (topic, key) == ("office.held", "p-1")
    assert (released.intake_event_id, released.held, released.at) == (event_id, False, NIGHT)
    assert _trail(w) == [
        ("held_message", released.held_id, "p-1", "engine", "delivered_to_office", "released",
         "office open"),
    ]  # fmt: skip
    assert _count(w, "delivered_now") == 1.0 and _count(w, "held") is None
    other = World()
    await deliver_to_office(other.svc, "p-1", uuid.uuid4())
    assert other.publisher.on("office.held")[0].held_id != released.held_id


async def test_releasing_publishes_audits_counts_and_forgets_the_message() -> None:
    w = World()
    event_id = uuid.uuid4()
    await hold_for_office(w.svc, "p-1", event_id, OPENING)
    held = w.publisher.on("office.held")[0]
    w.clock.current = OPENING + timedelta(seconds=0.5)
    command = ReleaseHeldMessage(
        held_id=held.held_id, practice_id="p-1", due_at=OPENING, fired_at=w.clock.now()
    )
    assert await release_held(w.svc, command) is True
    topic, key, released = w.publisher.published[-1]
    assert (topic, key) == ("office.held", "p-1")
    assert (released.held_id, released.intake_event_id, released.held) == (
        held.held_id, event_id, True,
    )  # fmt: skip
    assert _trail(w)[-1] == (
        "held_message", held.held_id, "p-1", "engine", "released_to_office", "released",
        "office opened",
    )  # fmt: skip
    assert _count(w, "released") == 1.0
    registry = w.svc.metrics.registry
    labels = {"kind": "release"}
    assert registry.get_sample_value("nightline_timer_lateness_seconds_sum", labels) == 0.5
    assert await w.timers.pending() == 0 and w.svc.held.held == {}  # type: ignore[attr-defined]
    assert await release_held(w.svc, command) is False  # released once
    assert len(w.publisher.on("office.held")) == 2


async def test_a_release_on_time_is_observed_as_not_late() -> None:
    w = World()
    await hold_for_office(w.svc, "p-1", uuid.uuid4(), OPENING)
    held_id = w.publisher.on("office.held")[0].held_id
    w.clock.current = OPENING
    early = OPENING + timedelta(seconds=1)  # a clock a little behind the index's
    await release_held(
        w.svc,
        ReleaseHeldMessage(held_id=held_id, practice_id="p-1", due_at=early, fired_at=OPENING),
    )
    registry = w.svc.metrics.registry
    labels = {"kind": "release"}
    assert registry.get_sample_value("nightline_timer_lateness_seconds_sum", labels) == 0.0


async def test_a_release_of_a_forgotten_message_only_drops_its_timer() -> None:
    w = World()
    w.timers.add("rel|p-1|h-gone", OPENING)
    command = ReleaseHeldMessage(
        held_id="h-gone", practice_id="p-1", due_at=OPENING, fired_at=OPENING
    )
    assert await release_held(w.svc, command) is False
    assert w.publisher.published == [] and await w.timers.pending() == 0
