"""Through the handlers on the fakes: a ``cancel_dispatch`` command stops a dispatch for
good, and an intake event's ``coverage_group`` pages that group's on-call people."""

from __future__ import annotations

from engine.domain.practice import EscalationPolicy, Practice, SimpleSchedule
from engine.domain.schedule import CoverageRole, LevelTarget, PolicyLevel, SchedulePolicy
from engine.schemas.acks import AckKind
from engine.schemas.intake import Urgency
from tests.unit.handler_world import HandlerWorld
from tests.unit.schedule_factories import group, layer, schedule_practice

# --- cancel_dispatch ----------------------------------------------------------------------


def flat_world() -> HandlerWorld:
    policy = EscalationPolicy(ack_timeout_seconds=60, repeats=1)
    practice = Practice(
        practice_id="p-cancel",
        name="Synthetic Pediatrics",
        timezone="America/New_York",
        escalation={urgency: policy for urgency in Urgency},
        schedule=SimpleSchedule(default_primary=["dr-ash"], default_backup=["dr-birch"]),
        operator_desk="desk-1",
    )
    return HandlerWorld(practice, ["dr-ash", "dr-birch"])


async def test_cancel_stops_every_timer_and_nobody_is_paged_again() -> None:
    w = flat_world()
    dispatch_id = await w.urgent_call()
    assert await w.timers.pending() == 1
    await w.cancel(dispatch_id, actor="op-jane")
    assert w.states(dispatch_id)[-1] == ("cancelled", "cancelled")
    assert await w.timers.pending() == 0
    for _ in range(5):
        await w.tick(61)
    assert w.paged_ids() == ["dr-ash"] and w.desk_alerts() == []
    [entry] = [a for a in w.audit.entries if a.to_status == "cancelled"]  # type: ignore[attr-defined]
    assert entry.actor == "op-jane"  # type: ignore[attr-defined]


async def test_a_cancelled_dispatch_stays_cancelled() -> None:
    w = flat_world()
    dispatch_id = await w.urgent_call()
    await w.cancel(dispatch_id)
    await w.cancel(dispatch_id)  # a second cancel is refused, not a second transition
    await w.ack(dispatch_id, "dr-ash", AckKind.ACCEPTED)
    assert [to for _, to in w.states(dispatch_id)] == ["sent", "cancelled"]


async def test_cancel_of_an_unknown_dispatch_changes_nothing() -> None:
    w = flat_world()
    await w.cancel("d-nobody-knows")
    assert w.publisher.published == [] and w.audit.entries == []


# --- coverage groups ----------------------------------------------------------------------


def group_world() -> HandlerWorld:
    """Two groups, each with one primary and one backup always on call; the urgent policy
    pages the primary of the event's group, then its backup (default group: peds)."""
    groups = [
        group(
            layer([f"dr-{name}-1"], start="2026-01-01"),
            layer([f"dr-{name}-2"], start="2026-01-01", role=CoverageRole.BACKUP),
            group_id=name,
        )
        for name in ("peds", "ob")
    ]
    policy = SchedulePolicy(
        levels=[
            PolicyLevel(name="primary", ack_timeout_seconds=60,
                        targets=[LevelTarget(kind="role", role=CoverageRole.PRIMARY)]),
            PolicyLevel(name="backup", ack_timeout_seconds=60,
                        targets=[LevelTarget(kind="role", role=CoverageRole.BACKUP)]),
        ]
    )  # fmt: skip
    practice = schedule_practice(*groups, practice_id="p-groups", default_group="peds")
    practice = practice.model_copy(update={"escalation_policies": {Urgency.URGENT: policy}})
    people = [f"dr-{g}-{n}" for g in ("peds", "ob") for n in (1, 2)]
    return HandlerWorld(practice, people)


async def test_the_events_coverage_group_is_paged_level_by_level() -> None:
    w = group_world()
    dispatch_id = await w.urgent_call(coverage_group="ob")
    assert w.paged_ids() == ["dr-ob-1"]
    await w.tick(61)
    assert w.paged_ids() == ["dr-ob-1", "dr-ob-2"]
    await w.tick(61)
    assert [a.dispatch_id for a in w.desk_alerts()] == [dispatch_id]


async def test_without_a_coverage_group_the_default_group_is_paged() -> None:
    w = group_world()
    await w.urgent_call()
    await w.tick(61)
    assert w.paged_ids() == ["dr-peds-1", "dr-peds-2"]
