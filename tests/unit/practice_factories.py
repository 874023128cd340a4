"""Builders for practices, office hours, shifts and intake events in unit tests.

Synthetic data only: no real patients, numbers or clinicians.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from engine.domain.practice import (
    OfficeHours,
    OnCallShift,
    Practice,
    SimpleSchedule,
    TimeRange,
    TriageRules,
    Weekday,
)
from engine.schemas.intake import (
    Caller,
    CallerType,
    CallReason,
    ChatMessage,
    EmailMessage,
    IntakeEvent,
    Patient,
    SmsMessage,
    VoiceCall,
    Voicemail,
    WebForm,
)

__all__ = ["at", "event", "hours", "practice", "shift", "weekday_hours"]

NEW_YORK = "America/New_York"
WEEKDAYS = (Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI)


def at(text: str, zone: str = NEW_YORK, fold: int = 0) -> datetime:
    """An aware datetime from local ISO text, e.g. ``at("2026-03-07 22:00")``."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hours(
    spans: dict[Weekday, list[tuple[str, str]]], closed: tuple[date, ...] = ()
) -> OfficeHours:
    """Office hours from ``{Weekday.MON: [("09:00", "17:00")]}``."""
    weekly = {
        day: [TimeRange(start=time.fromisoformat(a), end=time.fromisoformat(b)) for a, b in rs]
        for day, rs in spans.items()
    }
    return OfficeHours(weekly=weekly, closed_dates=list(closed))


def weekday_hours(
    start: str = "09:00", end: str = "17:00", closed: tuple[date, ...] = ()
) -> OfficeHours:
    """Monday to Friday, one range a day."""
    return hours({day: [(start, end)] for day in WEEKDAYS}, closed)


def practice(
    office_hours: OfficeHours | None = None,
    timezone: str = NEW_YORK,
    schedule: SimpleSchedule | None = None,
    **rules: Any,
) -> Practice:
    """A synthetic practice; keyword arguments override ``TriageRules`` fields."""
    return Practice(
        practice_id="test-practice",
        name="Synthetic Family Medicine",
        timezone=timezone,
        office_hours=office_hours if office_hours is not None else weekday_hours(),
        triage=TriageRules(**rules),
        schedule=schedule or SimpleSchedule(),
    )


def shift(
    start: datetime, end: datetime, primary: list[str], backup: list[str] | None = None
) -> OnCallShift:
    return OnCallShift(start=start, end=end, primary=primary, backup=backup or [])


_KINDS: dict[str, tuple[type[Any], dict[str, Any]]] = {
    "voice": (VoiceCall, {"call_id": "call-1"}),
    "voicemail": (Voicemail, {"call_id": "call-1", "duration_seconds": 30}),
    "sms": (SmsMessage, {}),
    "chat": (ChatMessage, {"session_id": "chat-1"}),
    "email": (EmailMessage, {}),
    "web": (WebForm, {"form_id": "form-1"}),
}


def event(
    kind: str = "sms",
    reason: CallReason = CallReason.OFFICE_ROUTINE,
    caller: CallerType = CallerType.PATIENT,
    message: str = "",
    **fields: Any,
) -> IntakeEvent:
    """A synthetic intake event of ``kind`` (voice, voicemail, sms, chat, email, web)."""
    model, extra = _KINDS[kind]
    result: IntakeEvent = model(
        event_id=uuid.UUID(int=1),
        practice_id="test-practice",
        source_system="test-pbx",
        received_at=utc("2026-01-05T03:00:00"),
        caller=Caller(type=caller, name="Synthetic Caller"),
        patient=Patient(name="Test Patient Alpha", date_of_birth=date(1990, 1, 1)),
        reason=reason,
        message=message,
        **{**extra, **fields},
    )
    return result
