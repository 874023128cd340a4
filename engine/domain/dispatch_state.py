"""Data of the dispatch decisions: the stored state of one dispatch, the effects a
decision asks for, and the decision itself.

Effects are requests, not actions: the caller commits the new state first, then
pages, schedules and publishes. Audit entries carry ids, statuses and short non-PHI
text only. ``DispatchState.to_dict`` gives plain JSON (datetimes in ISO 8601).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.domain.escalation import EscalationPlan, PlanStep
from engine.domain.state_machine import TERMINAL, DispatchStatus, Trigger
from engine.schemas.intake import Urgency

__all__ = [
    "MAX_PROCESSED_EVENT_IDS",
    "AuditEntry",
    "CancelTimers",
    "Decision",
    "DispatchState",
    "Effect",
    "NotifyOperatorDesk",
    "PagePerson",
    "ScheduleTimer",
    "StateChanged",
]

MAX_PROCESSED_EVENT_IDS = 64
"""How many recent acknowledgement event ids a dispatch remembers for deduplication."""


@dataclass(frozen=True)
class DispatchState:
    """Where one dispatch stands; ``version`` goes up by one on every change."""

    dispatch_id: str
    practice_id: str
    urgency: Urgency
    status: DispatchStatus
    plan: EscalationPlan
    step: int
    version: int
    created_at: datetime
    updated_at: datetime
    accepted_by: str | None = None
    paged: tuple[str, ...] = ()
    declined_by: tuple[str, ...] = ()
    processed_event_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for instant in (self.created_at, self.updated_at):
            if instant.tzinfo is None or instant.utcoffset() is None:
                raise ValueError("dispatch timestamps must be timezone-aware")
        self.plan.step(self.step)  # IndexError when the step is not in the plan

    @property
    def current_step(self) -> PlanStep:
        return self.plan.step(self.step)

    @property
    def operator_desk(self) -> str:
        return self.plan.operator_step.targets[0]

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "dispatch_id": self.dispatch_id,
            "practice_id": self.practice_id,
            "urgency": self.urgency.value,
            "status": self.status.value,
            "plan": self.plan.to_dict(),
            "step": self.step,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "accepted_by": self.accepted_by,
            "paged": list(self.paged),
            "declined_by": list(self.declined_by),
            "processed_event_ids": list(self.processed_event_ids),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DispatchState:
        return cls(
            dispatch_id=str(data["dispatch_id"]),
            practice_id=str(data["practice_id"]),
            urgency=Urgency(data["urgency"]),
            status=DispatchStatus(data["status"]),
            plan=EscalationPlan.from_dict(data["plan"]),
            step=int(data["step"]),
            version=int(data["version"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
            accepted_by=data.get("accepted_by"),
            paged=tuple(data.get("paged", ())),
            declined_by=tuple(data.get("declined_by", ())),
            processed_event_ids=tuple(data.get("processed_event_ids", ())),
        )


@dataclass(frozen=True)
class PagePerson:
    """Push the message to every registered device of ``clinician_id``."""

    step: int
    attempt: int
    clinician_id: str


@dataclass(frozen=True)
class ScheduleTimer:
    """Fire ``ack_timeout`` for ``step`` at ``due_at`` (a stale firing is harmless)."""

    step: int
    due_at: datetime


@dataclass(frozen=True)
class CancelTimers:
    """Drop every pending timer of this dispatch."""


@dataclass(frozen=True)
class NotifyOperatorDesk:
    """Put the message in front of a human at the answering service."""

    desk_id: str
    reason: str


@dataclass(frozen=True)
class AuditEntry:
    """One line of the dispatch timeline (no PHI); ``from_status`` is None at creation."""

    action: str
    actor: str
    from_status: str | None
    to_status: str
    step: int
    detail: str


@dataclass(frozen=True)
class StateChanged:
    """Published after the new state is committed; ``from_status`` is None at creation."""

    from_status: DispatchStatus | None
    to_status: DispatchStatus
    step: int
    trigger: Trigger


Effect = PagePerson | ScheduleTimer | CancelTimers | NotifyOperatorDesk | AuditEntry | StateChanged


@dataclass(frozen=True)
class Decision:
    """The new state and what to do about it; ``rejected`` says why an input changed nothing."""

    state: DispatchState
    effects: tuple[Effect, ...]
    rejected: str | None = None
