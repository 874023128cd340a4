"""Shift swaps: a clinician asks for a colleague to take one of their shifts, and a
practice administrator approves or declines. Pure decisions on a request: whether it
may be made, and its one-way states (``pending`` → ``approved`` or ``declined``; only a
pending request changes). Storing it and applying the override are the API's.

A request holds ids and times, and the requester's short note, which is free text: it
stays in the request and never reaches a log, an audit entry or an error message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from engine.domain.schedule import CoverageRole
from engine.schemas._base import AwareDatetime, Identifier

__all__ = ["LONGEST", "SwapError", "SwapRequest", "SwapStatus", "decide", "new_request"]

NOTE_MAX = 200
LONGEST = timedelta(days=31)


class SwapStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


class SwapError(ValueError):
    """A request that may not be made or changed; ``field`` names what is wrong (the
    message never holds a value)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SwapRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: Identifier
    practice_id: Identifier
    group_id: Identifier
    role: CoverageRole
    start: AwareDatetime
    end: AwareDatetime
    requester_id: Identifier = Field(description="The clinician whose shift it is.")
    with_clinician_id: Identifier = Field(description="The colleague who would take it.")
    note: str = Field(default="", max_length=NOTE_MAX)
    status: SwapStatus = SwapStatus.PENDING
    created_at: AwareDatetime
    decided_at: AwareDatetime | None = None
    decided_by: str | None = None


def new_request(
    request_id: str, practice_id: str, group_id: str, role: CoverageRole, start: datetime,
    end: datetime, requester_id: str, with_clinician_id: str, note: str, now: datetime,
) -> SwapRequest:  # fmt: skip
    """A pending request, if it makes sense: a time that has not ended, after its start
    and at most :data:`LONGEST` long, and someone other than the requester to take it."""
    if end <= start:
        raise SwapError("end", "must be after start")
    if end - start > LONGEST:
        raise SwapError("end", f"a swap covers at most {LONGEST.days} days")
    if end <= now:
        raise SwapError("end", "the shift is over")
    if with_clinician_id == requester_id:
        raise SwapError("with_clinician_id", "must be someone else")
    if len(note) > NOTE_MAX:
        raise SwapError("note", f"at most {NOTE_MAX} characters")
    return SwapRequest(
        request_id=request_id, practice_id=practice_id, group_id=group_id, role=role,
        start=start, end=end, requester_id=requester_id, with_clinician_id=with_clinician_id,
        note=note.strip(), created_at=now,
    )  # fmt: skip


def decide(request: SwapRequest, approve: bool, by: str, now: datetime) -> SwapRequest:
    """The request approved or declined by ``by``; only a pending one changes."""
    if request.status is not SwapStatus.PENDING:
        raise SwapError("status", f"the request is already {request.status.value}")
    status = SwapStatus.APPROVED if approve else SwapStatus.DECLINED
    return request.model_copy(update={"status": status, "decided_at": now, "decided_by": by})
