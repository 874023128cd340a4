"""Dispatch commands and state events (keyed by ``dispatch_id``).

Commands are imperative (``FireAckTimer``, ``CancelDispatch``); state events
are past tense (``DispatchStateChanged``). None of them carries PHI: the
message itself stays with the intake event, referenced by ``intake_event_id``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from engine.schemas._base import AwareDatetime, Event, Identifier
from engine.schemas.intake import Urgency

__all__ = [
    "CancelDispatch",
    "DispatchCommand",
    "DispatchStateChanged",
    "FireAckTimer",
    "FireReceiptTimer",
    "ReleaseHeldMessage",
]


_PAGE = Field(
    default=None, ge=1, description="The page the timer belongs to (None: set before pages)."
)


class FireAckTimer(Event):
    """A dispatch's acknowledgement deadline for page ``page`` (at ``step``) has passed."""

    type: Literal["fire_ack_timer"] = "fire_ack_timer"
    dispatch_id: Identifier
    step: int = Field(ge=0)
    page: int | None = _PAGE
    due_at: AwareDatetime
    fired_at: AwareDatetime


class FireReceiptTimer(Event):
    """No device receipt for page ``page`` (at ``step``) within the receipt timeout."""

    type: Literal["fire_receipt_timer"] = "fire_receipt_timer"
    dispatch_id: Identifier
    step: int = Field(ge=0)
    page: int | None = _PAGE
    due_at: AwareDatetime
    fired_at: AwareDatetime


class ReleaseHeldMessage(Event):
    """A held routine message's release time has come (from the timer index)."""

    type: Literal["release_held"] = "release_held"
    held_id: Identifier
    practice_id: Identifier
    due_at: AwareDatetime
    fired_at: AwareDatetime


class CancelDispatch(Event):
    """An operator or the practice cancels a dispatch (caller called back, duplicate, ...)."""

    type: Literal["cancel_dispatch"] = "cancel_dispatch"
    dispatch_id: Identifier
    actor: Identifier
    reason_code: str = Field(max_length=64, pattern=r"^[a-z0-9_]+$")


DispatchCommand = Annotated[
    FireAckTimer | FireReceiptTimer | ReleaseHeldMessage | CancelDispatch,
    Field(discriminator="type"),
]


class DispatchStateChanged(Event):
    """A dispatch moved from one status to another (one event per transition)."""

    dispatch_id: Identifier
    practice_id: Identifier
    intake_event_id: uuid.UUID
    urgency: Urgency
    from_status: str | None
    to_status: str
    trigger: str
    step: int = Field(ge=0)
    level_name: str
    version: int = Field(ge=1)
    at: AwareDatetime
