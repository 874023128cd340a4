"""Routine messages for the office: held until opening, or delivered at once.

Holding stores the message reference and its release timer in one atomic
write (idempotent by held id); the release command takes it out exactly once.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from engine.handlers.services import Services
from engine.handlers.timers import release_timer_member
from engine.schemas.audit import AuditEvent
from engine.schemas.dispatch import ReleaseHeldMessage
from engine.schemas.outbound import HeldForOffice, ReleasedToOffice

__all__ = ["deliver_to_office", "held_id_for", "hold_for_office", "release_held"]


def held_id_for(intake_event_id: uuid.UUID) -> str:
    return f"h-{intake_event_id}"


async def hold_for_office(
    svc: Services, practice_id: str, intake_event_id: uuid.UUID, release_at: datetime
) -> bool:
    """Hold a routine message until ``release_at``; False if it was already held."""
    now = svc.clock.now()
    held_id = held_id_for(intake_event_id)
    record = {
        "practice_id": practice_id,
        "intake_event_id": str(intake_event_id),
        "held_at": now.isoformat(),
        "release_at": release_at.isoformat(),
    }
    member = release_timer_member(practice_id, held_id)
    if not await svc.held.hold(held_id, record, release_at, member):
        return False
    await svc.publisher.publish(
        "office.held",
        practice_id,
        HeldForOffice(
            held_id=held_id,
            practice_id=practice_id,
            intake_event_id=intake_event_id,
            release_at=release_at,
            at=now,
        ),
    )
    await svc.audit.record(
        _audit(
            now,
            practice_id,
            held_id,
            "held_for_office",
            "held",
            f"release at {release_at.isoformat()}",
        )
    )
    svc.metrics.held_messages.labels("held").inc()
    return True


async def deliver_to_office(svc: Services, practice_id: str, intake_event_id: uuid.UUID) -> None:
    """The office is open: hand the routine message over now."""
    now = svc.clock.now()
    held_id = held_id_for(intake_event_id)
    await svc.publisher.publish(
        "office.held",
        practice_id,
        ReleasedToOffice(
            held_id=held_id,
            practice_id=practice_id,
            intake_event_id=intake_event_id,
            held=False,
            at=now,
        ),
    )
    await svc.audit.record(
        _audit(now, practice_id, held_id, "delivered_to_office", "released", "office open")
    )
    svc.metrics.held_messages.labels("delivered_now").inc()


async def release_held(svc: Services, command: ReleaseHeldMessage) -> bool:
    """Release a held message at opening; False when it was already released.

    Publish first, forget after: a crash in between releases twice, never zero times.
    """
    now = svc.clock.now()
    member = release_timer_member(command.practice_id, command.held_id)
    record = await svc.held.get(command.held_id)
    if record is None:
        await svc.timers.remove([member])
        return False
    await svc.publisher.publish(
        "office.held",
        command.practice_id,
        ReleasedToOffice(
            held_id=command.held_id,
            practice_id=command.practice_id,
            intake_event_id=uuid.UUID(record["intake_event_id"]),
            held=True,
            at=now,
        ),
    )
    await svc.audit.record(
        _audit(
            now,
            command.practice_id,
            command.held_id,
            "released_to_office",
            "released",
            "office opened",
        )
    )
    await svc.held.forget(command.held_id, member)
    svc.metrics.held_messages.labels("released").inc()
    svc.metrics.timer_lateness.labels("release").observe(
        max(0.0, (now - command.due_at).total_seconds())
    )
    return True


def _audit(
    now: datetime, practice_id: str, held_id: str, action: str, to_status: str, detail: str
) -> AuditEvent:
    return AuditEvent(
        at=now,
        practice_id=practice_id,
        subject_type="held_message",
        subject_id=held_id,
        actor="engine",
        action=action,
        to_status=to_status,
        detail=detail,
    )
