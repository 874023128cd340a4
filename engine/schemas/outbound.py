"""What Nightline sends to other systems: live-transfer instructions for
telephony, messages held for and released to the office, operator-desk alerts.

Only ids and codes travel here; consumers fetch message details over an
authenticated API, so these topics carry no PHI.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from engine.schemas._base import AwareDatetime, Event, Identifier
from engine.schemas.intake import Urgency

__all__ = ["HeldForOffice", "LiveTransferInstruction", "OperatorAlert", "ReleasedToOffice"]


class LiveTransferInstruction(Event):
    """Telephony: patch the waiting caller through to the on-call clinician."""

    call_id: Identifier
    practice_id: Identifier
    dispatch_id: Identifier
    clinician_id: Identifier
    urgency: Urgency
    fallback: Literal["take_message"] = Field(
        default="take_message",
        description="If the patch fails, the operator takes a message (the dispatch goes on).",
    )
    at: AwareDatetime


class HeldForOffice(Event):
    """A routine message waits for the office to open."""

    held_id: Identifier
    practice_id: Identifier
    intake_event_id: uuid.UUID
    release_at: AwareDatetime
    at: AwareDatetime


class ReleasedToOffice(Event):
    """A routine message is delivered to the office queue (at opening, or at once)."""

    held_id: Identifier
    practice_id: Identifier
    intake_event_id: uuid.UUID
    held: bool = Field(description="False when delivered at once because the office was open.")
    at: AwareDatetime


class OperatorAlert(Event):
    """A human at the answering service must handle this dispatch now.

    The desk claims it with an ``accepted`` acknowledgement (``operator_id``, ``desk_id``)
    for ``dispatch_id``; until then it is alerted again every desk timeout, with ``alert``
    counting up. Intake that could not be dispatched (a dead letter) is alerted the same
    way, with ``source_*`` pointing at the rejected record.
    """

    schema_version: int = Field(default=2, ge=1, le=2)
    dispatch_id: Identifier
    practice_id: Identifier
    desk_id: Identifier
    urgency: Urgency
    reason: str = Field(max_length=200, description="Why, without PHI (e.g. 'nobody on call').")
    alert: int = Field(default=1, ge=1, description="1, then 2, 3, ... while nobody claims it.")
    page: int | None = Field(default=None, ge=1, description="The dispatch's page number.")
    intake_event_id: uuid.UUID | None = Field(
        default=None, description="The intake event, when it could be read."
    )
    reason_code: str | None = Field(
        default=None, max_length=64, pattern=r"^[a-z0-9_]+$", description="For dead letters."
    )
    related_dispatch_id: Identifier | None = Field(
        default=None,
        description="The dispatch an acknowledgement or timer firing that failed concerned.",
    )
    source_topic: str | None = Field(default=None, max_length=249)
    source_partition: int | None = Field(default=None, ge=0)
    source_offset: int | None = Field(default=None, ge=0)
    at: AwareDatetime
