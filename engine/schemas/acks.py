"""Acknowledgements from the clinician app (keyed by ``dispatch_id``)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from engine.schemas._base import AwareDatetime, Event, Identifier

__all__ = ["AckKind", "Acknowledgement"]


class AckKind(StrEnum):
    RECEIVED = "received"  # the device got the push (receipt, not a human action)
    DISPLAYED = "displayed"  # the notification was shown (a receipt, like received)
    READ = "read"  # the clinician opened the message
    ACCEPTED = "accepted"  # the clinician takes responsibility: escalation stops
    DECLINED = "declined"  # the clinician cannot take it: next level now
    CALLBACK_COMPLETED = "callback_completed"  # the clinician called the patient back


class Acknowledgement(Event):
    """One action or receipt from a clinician's device, or from the operator console."""

    dispatch_id: Identifier
    clinician_id: Identifier
    device_id: Identifier | None = None
    kind: AckKind
    at: AwareDatetime = Field(description="When the device recorded the action.")
