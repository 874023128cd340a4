"""A deployment on the in-memory fakes for handler tests: a practice, a phone per
clinician, a fake clock, and what the scanner and the command agent would do when time
moves on. :class:`HandlerWorld` serves any practice; :class:`World` is the usual one
(practice ``p-1``, desk ``desk-9``, a flat default list). Synthetic ids only."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

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
from engine.handlers.commands import handle_ack, handle_command
from engine.handlers.effect_scanner import scan_due_effects
from engine.handlers.intake import handle_intake
from engine.handlers.services import Services
from engine.handlers.timers import scan_due_timers
from engine.metrics import Metrics
from engine.ports import Device
from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.dispatch import CancelDispatch
from engine.schemas.intake import Caller, CallerType, CallReason, Urgency, VoiceCall

__all__ = ["NIGHT", "HandlerWorld", "World", "ack", "call", "claim"]

# Tuesday 2026-01-06 03:00 in New York (08:00 UTC): after hours.
NIGHT = datetime(2026, 1, 6, 8, 0, tzinfo=UTC)


class HandlerWorld:
    """``practice`` served by handlers on fakes; each clinician has one iOS phone."""

    def __init__(self, practice: Practice, clinicians: Iterable[str]) -> None:
        self.practice_id = practice.practice_id
        self.clock = FakeClock(NIGHT)
        self.timers = MemoryTimerIndex()
        self.push = RecordingPushGateway()
        self.publisher = MemoryPublisher()
        self.audit = MemoryAuditSink()
        self.vault = MemoryVault()
        phones = {c: [Device(f"{c}-phone", c, "ios", f"tok-{c}")] for c in clinicians}
        self.svc = Services(
            clock=self.clock,
            practices=MemoryPracticeDirectory({practice.practice_id: practice}),
            devices=MemoryDeviceDirectory(phones),
            push=self.push,
            dispatches=MemoryDispatchStore(self.timers),
            held=MemoryHeldStore(self.timers),
            timers=self.timers,
            publisher=self.publisher,
            audit=self.audit,
            metrics=Metrics(),
            vault=self.vault,
        )

    async def urgent_call(self, **fields: Any) -> str:
        """An urgent call (a patient with symptoms); returns its dispatch id."""
        event = call(self.practice_id, received_at=self.clock.now(), **fields)
        outcome = await handle_intake(self.svc, event)
        assert outcome.action == "dispatch" and outcome.dispatch_id is not None
        return outcome.dispatch_id

    async def ack(self, dispatch_id: str, clinician: str, kind: AckKind, page: int = 1) -> None:
        """``kind`` from ``clinician``'s app, answering ``page``."""
        at = self.clock.now()
        await handle_ack(self.svc, ack(dispatch_id, clinician, kind, page, at))

    async def cancel(self, dispatch_id: str, actor: str = "op-jane") -> None:
        command = CancelDispatch(dispatch_id=dispatch_id, actor=actor, reason_code="caller_ok")
        await handle_command(self.svc, command)

    async def tick(self, seconds: float) -> None:
        """Move time on; run effects not done and fire due timers, as the scanners and
        the command agent would."""
        self.clock.advance(seconds)
        await scan_due_effects(self.svc)
        before = len(self.publisher.published)
        await scan_due_timers(self.svc)
        for topic, _, command in list(self.publisher.published[before:]):
            if topic == "dispatch.commands":
                await handle_command(self.svc, command)

    def practice(self) -> Practice:
        found = self.svc.practices.practices[self.practice_id]  # type: ignore[attr-defined]
        assert isinstance(found, Practice)
        return found

    def edit_practice(self, **changes: object) -> None:
        """Save a new revision of the practice (as an administrator would, mid-escalation)."""
        edited = self.practice().model_copy(update=changes)
        self.svc.practices.practices[self.practice_id] = edited  # type: ignore[attr-defined]

    def paged_ids(self) -> list[str]:
        """Who was paged, in order (one entry per push)."""
        return [p.device.clinician_id for p in self.push.sent]

    def paged(self) -> list[tuple[str, int, int]]:
        """(clinician, step, attempt) of every push, in order."""
        return [(p.device.clinician_id, p.step, p.attempt) for p in self.push.sent]

    def states(self, dispatch_id: str) -> list[tuple[str, str]]:
        """(trigger, to_status) of every dispatch.state event of the dispatch, in order."""
        events = self.publisher.on("dispatch.state")
        return [(e.trigger, e.to_status) for e in events if e.dispatch_id == dispatch_id]

    def desk_alerts(self) -> list[Any]:
        return self.publisher.on("operator.alerts")


class World(HandlerWorld):
    """Practice ``p-1`` (New York, office 08:00-17:00 on weekdays, desk ``desk-9``) with
    a flat default list and one pace for every urgency."""

    def __init__(
        self,
        timeout_s: float = 60,
        repeats: int = 1,
        primary: tuple[str, ...] = ("dr-ash",),
        backup: tuple[str, ...] = ("dr-birch",),
        devices: tuple[str, ...] = ("dr-ash", "dr-birch"),
    ) -> None:
        policy = EscalationPolicy(ack_timeout_seconds=timeout_s, repeats=repeats)
        weekdays = ("mon", "tue", "wed", "thu", "fri")
        practice = Practice.model_validate(
            {
                "practice_id": "p-1",
                "name": "Test",
                "timezone": "America/New_York",
                "office_hours": {
                    "weekly": {d: [{"start": "08:00", "end": "17:00"}] for d in weekdays}
                },
                "escalation": {u: policy.model_dump() for u in ("emergency", "urgent", "routine")},
                "schedule": SimpleSchedule(
                    default_primary=list(primary), default_backup=list(backup)
                ).model_dump(),
                "operator_desk": "desk-9",
            }
        )
        super().__init__(practice, devices)


def call(
    practice_id: str = "p-1",
    event_id: uuid.UUID | None = None,
    received_at: datetime = NIGHT,
    **fields: Any,
) -> VoiceCall:
    """An urgent call: a patient with symptoms, the operator said urgent."""
    return VoiceCall(
        event_id=event_id or uuid.uuid4(),
        practice_id=practice_id,
        source_system="pbx",
        received_at=received_at,
        caller=Caller(type=CallerType.PATIENT),
        reason=CallReason.SYMPTOMS,
        operator_urgency=Urgency.URGENT,
        call_id="c-1",
        **fields,
    )


def ack(
    dispatch_id: str, who: str, kind: AckKind, page: int = 1, at: datetime = NIGHT
) -> Acknowledgement:
    return Acknowledgement(dispatch_id=dispatch_id, clinician_id=who, kind=kind, page=page, at=at)


def claim(dispatch_id: str, desk: str = "desk-9") -> Acknowledgement:
    return Acknowledgement(
        dispatch_id=dispatch_id, operator_id="op-1", desk_id=desk, kind=AckKind.ACCEPTED, at=NIGHT
    )
