"""A deployment on the in-memory fakes for handler tests: one practice, a phone per
clinician, a fake clock, and what the scanner and the command agent would do when
time moves on. Synthetic ids only."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from engine.domain.practice import Practice
from engine.fakes import (
    FakeClock,
    MemoryAuditSink,
    MemoryDeviceDirectory,
    MemoryDispatchStore,
    MemoryHeldStore,
    MemoryPracticeDirectory,
    MemoryPublisher,
    MemoryTimerIndex,
    RecordingPushGateway,
)
from engine.handlers.commands import handle_ack, handle_command
from engine.handlers.intake import handle_intake
from engine.handlers.services import Services
from engine.handlers.timers import scan_due_timers
from engine.metrics import Metrics
from engine.ports import Device
from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.dispatch import CancelDispatch
from engine.schemas.intake import Caller, CallerType, CallReason, Urgency, VoiceCall

__all__ = ["NIGHT", "HandlerWorld"]

NIGHT = datetime(2026, 1, 7, 8, 0, tzinfo=UTC)  # Wednesday 03:00 in New York: after hours


class HandlerWorld:
    """``practice`` served by handlers on fakes; each clinician has one iOS phone."""

    def __init__(self, practice: Practice, clinicians: Iterable[str]) -> None:
        self.practice_id = practice.practice_id
        self.clock = FakeClock(NIGHT)
        self.timers = MemoryTimerIndex()
        self.push = RecordingPushGateway()
        self.publisher = MemoryPublisher()
        self.audit = MemoryAuditSink()
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
        )

    async def urgent_call(self, **fields: Any) -> str:
        """An urgent call (a patient with symptoms); returns its dispatch id."""
        event = VoiceCall(
            event_id=uuid.uuid4(),
            practice_id=self.practice_id,
            source_system="pbx",
            received_at=self.clock.now(),
            caller=Caller(type=CallerType.PATIENT),
            reason=CallReason.SYMPTOMS,
            operator_urgency=Urgency.URGENT,
            call_id="call-1",
            **fields,
        )
        outcome = await handle_intake(self.svc, event)
        assert outcome.action == "dispatch" and outcome.dispatch_id is not None
        return outcome.dispatch_id

    async def ack(self, dispatch_id: str, clinician: str, kind: AckKind) -> None:
        await handle_ack(
            self.svc,
            Acknowledgement(
                dispatch_id=dispatch_id, clinician_id=clinician, kind=kind, at=self.clock.now()
            ),
        )

    async def cancel(self, dispatch_id: str, actor: str = "op-jane") -> None:
        command = CancelDispatch(dispatch_id=dispatch_id, actor=actor, reason_code="caller_ok")
        await handle_command(self.svc, command)

    async def tick(self, seconds: float) -> None:
        """Move time on; fire due timers as the scanner and the command agent would."""
        self.clock.advance(seconds)
        before = len(self.publisher.published)
        await scan_due_timers(self.svc)
        for topic, _, command in list(self.publisher.published[before:]):
            if topic == "dispatch.commands":
                await handle_command(self.svc, command)

    def paged(self) -> list[str]:
        """Who was paged, in order (one entry per push)."""
        return [p.device.clinician_id for p in self.push.sent]

    def states(self, dispatch_id: str) -> list[tuple[str, str]]:
        """(trigger, to_status) of every dispatch.state event of the dispatch, in order."""
        events = self.publisher.on("dispatch.state")
        return [(e.trigger, e.to_status) for e in events if e.dispatch_id == dispatch_id]

    def desk_alerts(self) -> list[Any]:
        return self.publisher.on("operator.alerts")
