"""Data of the dispatch decisions: the stored state of one dispatch, the effects a
decision asks for, and the decision itself.

Pages are numbered: every page of clinicians and every alert of the operator desk
gets the next ``page`` number of its dispatch, which the push carries and each
acknowledgement names, so a receipt answers one page and a timer belongs to one page.

Effects are requests, not actions: the caller commits the new state first, then
pages, schedules and publishes. Audit entries carry ids, statuses and short non-PHI
text only. ``DispatchState.to_dict`` gives plain JSON (datetimes in ISO 8601).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from engine.domain.escalation import EscalationPlan, PlanStep
from engine.domain.state_machine import SETTLED, TERMINAL, DispatchStatus, Trigger
from engine.schemas.intake import Urgency

__all__ = [
    "MAX_PROCESSED_EVENT_IDS",
    "AuditEntry",
    "CancelTimer",
    "Decision",
    "DispatchState",
    "Effect",
    "NotifyOperatorDesk",
    "PagePerson",
    "ScheduleTimer",
    "StateChanged",
    "TimerKind",
    "TransferCall",
]

MAX_PROCESSED_EVENT_IDS = 64
"""How many recent acknowledgement event ids a dispatch remembers for deduplication."""

TimerKind = Literal["ack", "receipt"]


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(frozen=True)
class DispatchState:
    """Where one dispatch stands; ``version`` goes up by one on every change.

    ``page`` is the latest page number (0 before the first) and ``level_page`` the page
    that started the current level; ``targets`` are the people of the current level,
    resolved when it started, and ``page_targets`` those paged by the latest page.
    ``received`` confirmed the latest page; ``level_received`` confirmed some page of the
    current level. ``unreached`` are clinicians no push reached (paged again at each desk
    re-alert until a receipt shows they are back). ``accepted_at_desk`` tells an
    operator's claim from a clinician's acceptance.
    """

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
    accepted_at_desk: bool = False
    paged: tuple[str, ...] = ()
    declined_by: tuple[str, ...] = ()
    processed_event_ids: tuple[str, ...] = ()
    page: int = 0
    level_page: int = 0
    targets: tuple[str, ...] = ()
    page_targets: tuple[str, ...] = ()
    received: tuple[str, ...] = ()
    level_received: tuple[str, ...] = ()
    unreached: tuple[str, ...] = ()
    ack_due_at: datetime | None = None
    receipt_due_at: datetime | None = None
    grace_used: bool = False
    desk_alerts: int = 0

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

    @property
    def is_settled(self) -> bool:
        """Accepted, completed or cancelled: no deadline is left to keep."""
        return self.status in SETTLED

    @property
    def level_targets(self) -> tuple[str, ...]:
        """The current level's people (the plan's snapshot for states stored before
        levels were resolved when they start)."""
        return self.targets or self.current_step.targets

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
            "accepted_at_desk": self.accepted_at_desk,
            "paged": list(self.paged),
            "declined_by": list(self.declined_by),
            "processed_event_ids": list(self.processed_event_ids),
            "page": self.page,
            "level_page": self.level_page,
            "targets": list(self.targets),
            "page_targets": list(self.page_targets),
            "received": list(self.received),
            "level_received": list(self.level_received),
            "unreached": list(self.unreached),
            "ack_due_at": None if self.ack_due_at is None else self.ack_due_at.isoformat(),
            "receipt_due_at": (
                None if self.receipt_due_at is None else self.receipt_due_at.isoformat()
            ),
            "grace_used": self.grace_used,
            "desk_alerts": self.desk_alerts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DispatchState:
        def ids(name: str) -> tuple[str, ...]:
            return tuple(data.get(name, ()))

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
            accepted_at_desk=bool(data.get("accepted_at_desk", False)),
            paged=ids("paged"),
            declined_by=ids("declined_by"),
            processed_event_ids=ids("processed_event_ids"),
            page=int(data.get("page", 0)),
            level_page=int(data.get("level_page", 0)),
            targets=ids("targets"),
            page_targets=ids("page_targets"),
            received=ids("received"),
            level_received=ids("level_received"),
            unreached=ids("unreached"),
            ack_due_at=_instant(data.get("ack_due_at")),
            receipt_due_at=_instant(data.get("receipt_due_at")),
            grace_used=bool(data.get("grace_used", False)),
            desk_alerts=int(data.get("desk_alerts", 0)),
        )


@dataclass(frozen=True)
class PagePerson:
    """Push page number ``page`` to every registered device of ``clinician_id``."""

    step: int
    attempt: int
    clinician_id: str
    page: int = 0


@dataclass(frozen=True)
class ScheduleTimer:
    """Fire ``kind`` for ``page`` (at ``step``) at ``due_at``; a stale firing is harmless.
    Scheduling the same kind, step and page again moves the deadline."""

    step: int
    due_at: datetime
    page: int = 0
    kind: TimerKind = "ack"


@dataclass(frozen=True)
class CancelTimer:
    """Drop the pending ``kind`` timer of ``page`` (at ``step``)."""

    step: int
    page: int
    kind: TimerKind = "ack"


@dataclass(frozen=True)
class NotifyOperatorDesk:
    """Put the message in front of a human at the answering service (``alert``: 1 for
    the first alert of this dispatch, then 2, 3, ... for re-alerts nobody claimed)."""

    desk_id: str
    reason: str
    page: int = 0
    alert: int = 1


@dataclass(frozen=True)
class TransferCall:
    """Telephony: patch the caller waiting on ``call_id`` through to ``clinician_id``."""

    call_id: str
    clinician_id: str


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


Effect = (
    PagePerson
    | ScheduleTimer
    | CancelTimer
    | NotifyOperatorDesk
    | TransferCall
    | AuditEntry
    | StateChanged
)


@dataclass(frozen=True)
class Decision:
    """The new state and what to do about it; ``rejected`` says why an input changed nothing."""

    state: DispatchState
    effects: tuple[Effect, ...]
    rejected: str | None = None
