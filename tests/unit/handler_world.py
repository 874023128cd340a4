"""A world of in-memory fakes for handler tests: one practice (desk ``desk-9``, a flat
default list), phones for its clinicians, a clock the test moves, and ``tick`` that runs
what the timer scanner and the command agent would. Synthetic ids only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from engine.domain.practice import EscalationPolicy, Practice, SimpleSchedule
from engine.fakes import (
    FakeClock,
    MemoryAuditSink,
    MemoryDeviceDirectory,
    MemoryDispatchStore,
    MemoryHeldStore,
    MemoryPracticeDirectory,
    MemoryPublisher,
    MemoryTimerIndex,
    MemoryVault,
    RecordingPushGateway,
)
from engine.handlers.commands import handle_command
from engine.handlers.services import Services
from engine.handlers.timers import scan_due_timers
from engine.metrics import Metrics
from engine.ports import Device
from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.intake import Caller, CallerType, CallReason, Urgency, VoiceCall

__all__ = ["NIGHT", "World", "ack", "call", "claim"]

# Tuesday 2026-01-06 03:00 in New York (08:00 UTC): after hours.
NIGHT = datetime(2026, 1, 6, 8, 0, tzinfo=UTC)


class World:
    """The services of one worker on fakes, and the practice ``p-1``."""

    def __init__(
        self,
        timeout_s: float = 60,
        repeats: int = 1,
        primary: tuple[str, ...] = ("dr-ash",),
        backup: tuple[str, ...] = ("dr-birch",),
        devices: tuple[str, ...] = ("dr-ash", "dr-birch"),
    ) -> None:
        self.clock = FakeClock(NIGHT)
        self.timers = MemoryTimerIndex()
        self.push = RecordingPushGateway()
        self.publisher = MemoryPublisher()
        self.audit = MemoryAuditSink()
        self.vault = MemoryVault()
        policy = EscalationPolicy(ack_timeout_seconds=timeout_s, repeats=repeats)
        practice = Practice.model_validate(
            {
                "practice_id": "p-1",
                "name": "Test",
                "timezone": "America/New_York",
                "office_hours": {
                    "weekly": {
                        d: [{"start": "08:00", "end": "17:00"}]
                        for d in ("mon", "tue", "wed", "thu", "fri")
                    }
                },
                "escalation": {u: policy.model_dump() for u in ("emergency", "urgent", "routine")},
                "schedule": SimpleSchedule(
                    default_primary=list(primary), default_backup=list(backup)
                ).model_dump(),
                "operator_desk": "desk-9",
            }
        )
        self.svc = Services(
            clock=self.clock,
            practices=MemoryPracticeDirectory({"p-1": practice}),
            devices=MemoryDeviceDirectory(
                {c: [Device(f"{c}-phone", c, "ios", "tok")] for c in devices}
            ),
            push=self.push,
            dispatches=MemoryDispatchStore(self.timers),
            held=MemoryHeldStore(self.timers),
            timers=self.timers,
            publisher=self.publisher,
            audit=self.audit,
            metrics=Metrics(),
            vault=self.vault,
        )

    async def tick(self, seconds: float) -> None:
        """Move time on and run what the scanner and the command agent would."""
        self.clock.advance(seconds)
        before = len(self.publisher.published)
        await scan_due_timers(self.svc)
        for topic, _, command in list(self.publisher.published[before:]):
            if topic == "dispatch.commands":
                await handle_command(self.svc, command)

    def practice(self) -> Practice:
        found = self.svc.practices.practices["p-1"]  # type: ignore[attr-defined]
        assert isinstance(found, Practice)
        return found

    def edit_practice(self, **changes: object) -> None:
        """Save a new revision of ``p-1`` (as an administrator would, mid-escalation)."""
        self.svc.practices.practices["p-1"] = self.practice().model_copy(update=changes)  # type: ignore[attr-defined]

    def paged(self) -> list[tuple[str, int, int]]:
        return [(p.device.clinician_id, p.step, p.attempt) for p in self.push.sent]


def call(practice_id: str = "p-1", event_id: uuid.UUID | None = None) -> VoiceCall:
    return VoiceCall(
        event_id=event_id or uuid.uuid4(),
        practice_id=practice_id,
        source_system="pbx",
        received_at=NIGHT,
        caller=Caller(type=CallerType.PATIENT),
        reason=CallReason.SYMPTOMS,
        operator_urgency=Urgency.URGENT,
        call_id="c-1",
    )


def ack(dispatch_id: str, who: str, kind: AckKind, page: int = 1) -> Acknowledgement:
    return Acknowledgement(
        dispatch_id=dispatch_id, clinician_id=who, kind=kind, page=page, at=NIGHT
    )


def claim(dispatch_id: str, desk: str = "desk-9") -> Acknowledgement:
    return Acknowledgement(
        dispatch_id=dispatch_id, operator_id="op-1", desk_id=desk, kind=AckKind.ACCEPTED, at=NIGHT
    )
