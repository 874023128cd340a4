"""Intake events: calls and messages that telephony, chat, SMS, e-mail and web
forms publish for Nightline to triage.

These are the only events that carry PHI (patient, caller, message). Nothing
derived from them that leaves the engine may repeat those fields in clear.

What a real PBX sends and is safe is accepted: a callback number with an extension
(``+1 555 0100 x12``, ``ext. 12``, ``;ext=12``), a reason code Nightline does not know
yet (``reason`` becomes ``unrecognised``, which triage treats as at least urgent, and
the code is kept in ``unrecognised_reason``), a patient whose name was not given. The
rest stays strict: unknown fields, naive datetimes and invalid values are rejected.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

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

_EXTENSION = r"(?:[,;]\s*)?(?:[xX]|[eE][xX][tT](?:[eE][nN][sS][iI][oO][nN]|\.|=)?)\s*[0-9]{1,10}"
PhoneNumber = Annotated[
    str,
    StringConstraints(min_length=3, max_length=48, pattern=rf"^\+?[0-9 ()\-.]+(?:{_EXTENSION})?$"),
]
"""Digits, spaces and ``+()-.``, optionally an extension kept as written: ``x12``,
``x 12``, ``ext. 12``, ``extension 12``, ``;ext=12`` (the clinician dials it)."""

UNRECOGNISED_REASON_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
"""A reason code Nightline does not know yet is accepted when it looks like one."""
_UNRECOGNISED_REASON = re.compile(UNRECOGNISED_REASON_PATTERN)


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
    UNRECOGNISED = "unrecognised"
    """A code Nightline does not know (kept in ``unrecognised_reason``): at least urgent."""


class IntakeKind(StrEnum):
    VOICE_CALL = "voice_call"
    VOICEMAIL = "voicemail"
    SMS = "sms"
    CHAT = "chat"
    EMAIL = "email"
    WEB_FORM = "web_form"


_KNOWN_REASONS = frozenset(CallReason)


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _also_unrecognised_codes(schema: dict[str, Any]) -> None:
    """JSON Schema of ``reason``: a known code, or any code shaped like one."""
    known = {"$ref": schema.pop("$ref")} if "$ref" in schema else {"allOf": schema.pop("allOf")}
    schema["anyOf"] = [known, {"type": "string", "pattern": UNRECOGNISED_REASON_PATTERN}]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Patient(_Strict):
    """The patient the message is about (PHI)."""

    name: str = Field(
        default="", max_length=200, description="Empty when the caller did not give it."
    )
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
    reason: CallReason = Field(
        description="Reason code chosen by the operator, IVR or form. Another lower-case "
        "code (letters, digits, '_', up to 64) is accepted as 'unrecognised': at least urgent.",
        json_schema_extra=_also_unrecognised_codes,
    )
    unrecognised_reason: str | None = Field(
        default=None,
        pattern=UNRECOGNISED_REASON_PATTERN,
        description="The code as sent when it was not a known reason (reason is then "
        "'unrecognised'); set by Nightline, producers leave it out.",
    )
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

    @model_validator(mode="before")
    @classmethod
    def _tolerate(cls, data: Any) -> Any:
        """Map an unknown reason code to ``unrecognised`` and drop a patient without
        any detail (the push then names the caller)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        reason = data.get("reason")
        unknown = isinstance(reason, str) and reason not in _KNOWN_REASONS
        if unknown and _UNRECOGNISED_REASON.fullmatch(reason):
            data["reason"] = CallReason.UNRECOGNISED.value
            data["unrecognised_reason"] = reason
        patient = data.get("patient")
        if isinstance(patient, dict) and not any(_given(v) for v in patient.values()):
            data["patient"] = None
        return data

    @model_validator(mode="after")
    def _unrecognised_only_for_unrecognised(self) -> _IntakeBase:
        if self.unrecognised_reason is not None and self.reason is not CallReason.UNRECOGNISED:
            raise ValueError("unrecognised_reason is only set with reason 'unrecognised'")
        return self


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
