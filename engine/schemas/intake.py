"""Intake events: calls and messages that telephony, chat, SMS, e-mail and web
forms publish for Nightline to triage.

These are the only events that carry PHI (patient, caller, message). Nothing
derived from them that leaves the engine may repeat those fields in clear.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from engine.schemas._base import AwareDatetime, Event, Identifier

__all__ = [
    "CallReason",
    "Caller",
    "CallerType",
    "ChatMessage",
    "EmailMessage",
    "IntakeEvent",
    "IntakeKind",
    "Patient",
    "SmsMessage",
    "Urgency",
    "VoiceCall",
    "Voicemail",
    "WebForm",
]

PhoneNumber = Annotated[
    str, StringConstraints(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()\-.]+$")
]


class Urgency(StrEnum):
    """How soon a message must reach a clinician (ordered: routine < urgent < emergency)."""

    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        return _URGENCY_RANK[self]


_URGENCY_RANK = {Urgency.ROUTINE: 0, Urgency.URGENT: 1, Urgency.EMERGENCY: 2}


class CallerType(StrEnum):
    """Who is calling; practices route hospitals and pharmacies differently from patients."""

    PATIENT = "patient"
    PARENT_GUARDIAN = "parent_guardian"
    PHARMACY = "pharmacy"
    HOSPITAL = "hospital"
    PHYSICIAN = "physician"
    NURSING_HOME = "nursing_home"
    HOME_HEALTH = "home_health"
    LAB = "lab"
    OTHER = "other"


class CallReason(StrEnum):
    """Reason codes from answering-service operator scripts."""

    OFFICE_ROUTINE = "office_routine"
    APPOINTMENT = "appointment"
    BILLING = "billing"
    PRESCRIPTION_REFILL = "prescription_refill"
    WANTS_ON_CALL = "wants_on_call"
    SYMPTOMS = "symptoms"
    STAT_LAB_RESULT = "stat_lab_result"
    HOSPITAL_ADMISSION = "hospital_admission"
    HOSPITAL_CONSULT = "hospital_consult"
    BABY_BORN = "baby_born"
    NURSING_HOME = "nursing_home"
    HOME_HEALTH = "home_health"
    DOCTOR_TO_DOCTOR = "doctor_to_doctor"
    OTHER = "other"


class IntakeKind(StrEnum):
    VOICE_CALL = "voice_call"
    VOICEMAIL = "voicemail"
    SMS = "sms"
    CHAT = "chat"
    EMAIL = "email"
    WEB_FORM = "web_form"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Patient(_Strict):
    """The patient the message is about (PHI)."""

    name: str = Field(min_length=1, max_length=200)
    date_of_birth: date | None = None
    medical_record_number: str | None = Field(default=None, max_length=64)


class Caller(_Strict):
    """Who called or wrote (PHI when the caller is the patient or family)."""

    type: CallerType
    name: str | None = Field(default=None, max_length=200)
    organisation: str | None = Field(default=None, max_length=200)
    callback_number: PhoneNumber | None = None


class _IntakeBase(Event):
    """Fields shared by every intake kind."""

    event_id: uuid.UUID = Field(
        description="Required on intake: the producer's id, reused on retries (dedupe key)."
    )
    practice_id: Identifier = Field(description="The practice whose phones were answered.")
    source_system: Identifier = Field(description="The producing system (PBX, IVR, gateway).")
    received_at: AwareDatetime = Field(description="When the call or message reached the service.")
    caller: Caller
    patient: Patient | None = None
    reason: CallReason = Field(description="Reason code chosen by the operator, IVR or form.")
    message: str = Field(default="", max_length=8000, description="Free text (PHI).")
    operator_urgency: Urgency | None = Field(
        default=None, description="Urgency a trained operator assigned, if any."
    )
    caller_requested_urgency: Urgency | None = Field(
        default=None, description="Urgency the caller asked for (IVR key, form checkbox)."
    )
    coverage_group: Identifier | None = Field(
        default=None, description="Coverage group to page; default: the practice's main group."
    )


class VoiceCall(_IntakeBase):
    kind: Literal[IntakeKind.VOICE_CALL] = IntakeKind.VOICE_CALL
    call_id: Identifier = Field(description="The telephony system's call id (for live transfer).")
    caller_on_hold: bool = Field(default=False, description="The caller is waiting on the line.")


class Voicemail(_IntakeBase):
    kind: Literal[IntakeKind.VOICEMAIL] = IntakeKind.VOICEMAIL
    call_id: Identifier
    duration_seconds: int = Field(ge=0, le=24 * 3600)
    recording_ref: str | None = Field(default=None, max_length=512)


class SmsMessage(_IntakeBase):
    kind: Literal[IntakeKind.SMS] = IntakeKind.SMS
    thread_id: Identifier | None = None


class ChatMessage(_IntakeBase):
    kind: Literal[IntakeKind.CHAT] = IntakeKind.CHAT
    session_id: Identifier


class EmailMessage(_IntakeBase):
    kind: Literal[IntakeKind.EMAIL] = IntakeKind.EMAIL
    subject: str = Field(default="", max_length=500)


class WebForm(_IntakeBase):
    kind: Literal[IntakeKind.WEB_FORM] = IntakeKind.WEB_FORM
    form_id: Identifier


IntakeEvent = Annotated[
    VoiceCall | Voicemail | SmsMessage | ChatMessage | EmailMessage | WebForm,
    Field(discriminator="kind"),
]
"""Any intake event; ``kind`` selects the model."""
