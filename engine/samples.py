"""Synthetic sample events for demos and tests (no real patients)."""

from __future__ import annotations

import uuid
from datetime import datetime

from engine.schemas.intake import (
    Caller,
    CallerType,
    CallReason,
    IntakeEvent,
    Patient,
    SmsMessage,
    Urgency,
    VoiceCall,
)

__all__ = ["SAMPLE_KINDS", "sample_event"]

SAMPLE_KINDS = ("urgent", "emergency", "routine")


def sample_event(
    kind: str, practice_id: str, now: datetime, event_id: uuid.UUID | None = None
) -> IntakeEvent:
    """A synthetic call of the given kind for a practice."""
    patient = Patient(name="Synthetic Patient Zulu", date_of_birth=None)
    caller = Caller(
        type=CallerType.PARENT_GUARDIAN, name="Synthetic Parent", callback_number="+1 555 0100"
    )
    event_id = event_id or uuid.uuid4()
    common = {
        "event_id": event_id,
        "practice_id": practice_id,
        "received_at": now,
        "caller": caller,
        "patient": patient,
    }
    call_id = f"call-{event_id.hex[:8]}"
    if kind == "urgent":
        return VoiceCall(
            **common,
            source_system="demo-pbx",
            reason=CallReason.SYMPTOMS,
            message="Child has a fever of 39.8 C",
            operator_urgency=Urgency.URGENT,
            call_id=call_id,
        )
    if kind == "emergency":
        return VoiceCall(
            **common,
            source_system="demo-pbx",
            reason=CallReason.SYMPTOMS,
            message="Child had a seizure",
            call_id=call_id,
        )
    if kind == "routine":
        return SmsMessage(
            **common,
            source_system="demo-sms",
            reason=CallReason.PRESCRIPTION_REFILL,
            message="Please refill the inhaler prescription",
        )
    raise ValueError(f"unknown sample kind {kind!r}; choose from {', '.join(SAMPLE_KINDS)}")
