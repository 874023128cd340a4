"""Synthetic practices, devices and calls for the integration scenarios."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from engine.domain.practice import EscalationPolicy, Practice, SimpleSchedule
from engine.ports import Device
from engine.schemas.intake import (
    Caller,
    CallerType,
    CallReason,
    Patient,
    SmsMessage,
    Urgency,
    VoiceCall,
)

SYNTHETIC_PATIENT = "Synthetic Patient Quokka-7319"
SYNTHETIC_CALLBACK = "+1 555 0142"
SYNTHETIC_MESSAGE = "Fever 39.9 after surgery, Quokka-7319 is dizzy"

OFFICE_HOURS = {
    "weekly": {
        day: [{"start": "08:00", "end": "17:00"}] for day in ("mon", "tue", "wed", "thu", "fri")
    },
    "closed_dates": [],
}


def practice(
    practice_id: str,
    timeout_s: float = 1.5,
    repeats: int = 1,
    primary: tuple[str, ...] = ("dr-ash",),
    backup: tuple[str, ...] = ("dr-birch",),
) -> Practice:
    policy = EscalationPolicy(ack_timeout_seconds=timeout_s, repeats=repeats)
    return Practice.model_validate(
        {
            "practice_id": practice_id,
            "name": f"Test practice {practice_id}",
            "timezone": "America/New_York",
            "office_hours": OFFICE_HOURS,
            "escalation": {u: policy.model_dump() for u in ("emergency", "urgent", "routine")},
            "schedule": SimpleSchedule(
                default_primary=list(primary), default_backup=list(backup)
            ).model_dump(),
            "operator_desk": "desk-1",
        }
    )


def devices_for(*clinicians: str) -> list[Device]:
    return [
        Device(device_id=f"{c}-phone", clinician_id=c, platform="ios", push_token=f"tok-{c}")
        for c in clinicians
    ]


def urgent_call(
    practice_id: str, event_id: uuid.UUID | None = None, received_at: datetime | None = None
) -> VoiceCall:
    return VoiceCall(
        event_id=event_id or uuid.uuid4(),
        practice_id=practice_id,
        source_system="test-pbx",
        received_at=received_at or datetime.now(UTC),
        caller=Caller(
            type=CallerType.PATIENT, name=SYNTHETIC_PATIENT, callback_number=SYNTHETIC_CALLBACK
        ),
        patient=Patient(name=SYNTHETIC_PATIENT),
        reason=CallReason.SYMPTOMS,
        message=SYNTHETIC_MESSAGE,
        operator_urgency=Urgency.URGENT,
        call_id=f"call-{uuid.uuid4().hex[:8]}",
    )


def routine_sms(practice_id: str, received_at: datetime) -> SmsMessage:
    return SmsMessage(
        event_id=uuid.uuid4(),
        practice_id=practice_id,
        source_system="test-sms",
        received_at=received_at,
        caller=Caller(type=CallerType.PATIENT, name=SYNTHETIC_PATIENT),
        patient=Patient(name=SYNTHETIC_PATIENT),
        reason=CallReason.PRESCRIPTION_REFILL,
        message="Refill please",
    )
