"""A practice's configuration: time zone, office hours, triage rules, a simple
on-call schedule and escalation policies.

This is plain data (pydantic models, validated on load). Issue 3 replaces the
simple schedule with layered rotations; the rest stays. Validation also keeps the
escalation pace in order (:mod:`engine.domain.pace`): no urgency ever waits longer
than a less urgent one.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.domain.pace import lender, pace_problems
from engine.domain.problems import raise_problems
from engine.domain.red_flags import default_lexicon, practice_keywords
from engine.domain.schedule import Clinician, CoverageGroup, SchedulePolicy
from engine.domain.weekdays import Weekday
from engine.schemas._base import AwareDatetime, Identifier
from engine.schemas.intake import CallerType, CallReason, Urgency

__all__ = [
    "EscalationPolicy",
    "OfficeHours",
    "OnCallShift",
    "Practice",
    "SimpleSchedule",
    "TimeRange",
    "TriageRules",
    "Weekday",
]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeRange(_Config):
    """Local wall-clock opening hours within one day, ``start`` < ``end``."""

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.end <= self.start:
            raise ValueError(f"office hours end {self.end} must be after start {self.start}")
        return self


class OfficeHours(_Config):
    """When the office is open, in the practice's time zone."""

    weekly: dict[Weekday, list[TimeRange]] = Field(default_factory=dict)
    closed_dates: list[date] = Field(
        default_factory=list, description="Practice closures: closed all day."
    )
    public_holidays: str | None = Field(
        default=None,
        description="Country and optional subdivision whose public holidays close the office, "
        "from the 'holidays' library: 'US', 'US-NY', 'GB-ENG', 'CA-ON'.",
    )

    @field_validator("public_holidays")
    @classmethod
    def _known_calendar(cls, value: str | None) -> str | None:
        if value is not None:
            from engine.domain.holiday_calendars import holiday_calendar

            holiday_calendar(value)  # raises ValueError for an unknown code
        return value


DEFAULT_REASON_URGENCY: dict[CallReason, Urgency] = {
    CallReason.OFFICE_ROUTINE: Urgency.ROUTINE,
    CallReason.APPOINTMENT: Urgency.ROUTINE,
    CallReason.BILLING: Urgency.ROUTINE,
    CallReason.PRESCRIPTION_REFILL: Urgency.ROUTINE,
    CallReason.WANTS_ON_CALL: Urgency.URGENT,
    CallReason.SYMPTOMS: Urgency.URGENT,
    CallReason.STAT_LAB_RESULT: Urgency.EMERGENCY,
    CallReason.HOSPITAL_ADMISSION: Urgency.URGENT,
    CallReason.HOSPITAL_CONSULT: Urgency.URGENT,
    CallReason.BABY_BORN: Urgency.URGENT,
    CallReason.NURSING_HOME: Urgency.URGENT,
    CallReason.HOME_HEALTH: Urgency.URGENT,
    CallReason.DOCTOR_TO_DOCTOR: Urgency.URGENT,
    CallReason.OTHER: Urgency.URGENT,
}

DEFAULT_CALLER_URGENCY: dict[CallerType, Urgency] = {
    CallerType.HOSPITAL: Urgency.URGENT,
    CallerType.PHYSICIAN: Urgency.URGENT,
    CallerType.NURSING_HOME: Urgency.URGENT,
}


class TriageRules(_Config):
    """How a practice classifies calls. The highest urgency any rule gives wins."""

    reason_urgency: dict[CallReason, Urgency] = Field(
        default_factory=lambda: dict(DEFAULT_REASON_URGENCY),
        description="Urgency by reason code; reasons not listed count as urgent (safe side).",
    )
    caller_type_minimum: dict[CallerType, Urgency] = Field(
        default_factory=lambda: dict(DEFAULT_CALLER_URGENCY),
        description="Lowest urgency for a caller type (hospitals are never routine).",
    )
    emergency_keywords: list[str] = Field(
        default_factory=list,
        description="The practice's own phrases that make a message an emergency, on top of "
        "the red-flag lexicon. Word forms match ('seizures' for 'seizure'); 'a b': in this "
        "order, up to 3 words apart; 'a + b': in any order; 'a|b': either word.",
    )
    urgent_keywords: list[str] = Field(
        default_factory=list,
        description="The practice's own phrases that make a message at least urgent "
        "(same syntax as emergency_keywords).",
    )
    red_flag_urgency: dict[str, Urgency] = Field(
        default_factory=dict,
        description="Moves a default red flag between urgent and emergency, by id "
        "(e.g. high_risk_fever: urgent). A red flag cannot be switched off or made routine.",
    )
    honour_operator_urgency: bool = Field(
        default=True, description="A trained operator's urgency raises the result."
    )
    honour_caller_requested_urgency: bool = Field(
        default=False,
        description="Whether a caller's own 'urgent' raises the result (often it is a refill).",
    )
    live_transfer_urgencies: list[Urgency] = Field(
        default_factory=list,
        description="For voice calls with the caller on hold: patch the call through at these.",
    )
    live_transfer_caller_types: list[CallerType] = Field(
        default_factory=lambda: [CallerType.PHYSICIAN, CallerType.HOSPITAL],
        description="Caller types patched through live (doctor-to-doctor), urgent or above.",
    )

    @field_validator("reason_urgency")
    @classmethod
    def _unrecognised_reasons_stay_urgent(
        cls, value: dict[CallReason, Urgency]
    ) -> dict[CallReason, Urgency]:
        mapped = value.get(CallReason.UNRECOGNISED)
        if mapped is not None and mapped.rank < Urgency.URGENT.rank:
            raise ValueError(
                "'unrecognised' cannot be routine: a reason code Nightline does not know "
                "is at least urgent (map it to urgent or emergency, or leave it out)"
            )
        return value

    @field_validator("emergency_keywords", "urgent_keywords")
    @classmethod
    def _compiles(cls, phrases: list[str]) -> list[str]:
        practice_keywords(tuple(phrases), ())  # PhraseSyntaxError (a ValueError) names the phrase
        return phrases

    @field_validator("red_flag_urgency")
    @classmethod
    def _known_red_flags(cls, levels: dict[str, Urgency]) -> dict[str, Urgency]:
        known = {flag.rule for flag in default_lexicon().flags}
        for rule, urgency in levels.items():
            if rule not in known:
                raise ValueError(f"unknown red flag {rule!r} (see engine/domain/red_flags.yaml)")
            if urgency is Urgency.ROUTINE:
                raise ValueError(f"red flag {rule!r} cannot be routine: urgent or emergency")
        return levels


class EscalationPolicy(_Config):
    """Acknowledgement timeout and re-pages per level for one urgency."""

    ack_timeout_seconds: float = Field(gt=0, le=24 * 3600)
    repeats: int = Field(default=1, ge=0, le=10, description="Re-pages of the same level.")


def _default_policies() -> dict[Urgency, EscalationPolicy]:
    return {
        Urgency.EMERGENCY: EscalationPolicy(ack_timeout_seconds=60, repeats=2),
        Urgency.URGENT: EscalationPolicy(ack_timeout_seconds=300, repeats=1),
        Urgency.ROUTINE: EscalationPolicy(ack_timeout_seconds=1800, repeats=0),
    }


class OnCallShift(_Config):
    """Who is on call between ``start`` and ``end`` (half-open interval)."""

    start: AwareDatetime
    end: AwareDatetime
    primary: list[Identifier] = Field(min_length=1)
    backup: list[Identifier] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> OnCallShift:
        if self.end <= self.start:
            raise ValueError("shift end must be after its start")
        return self


class SimpleSchedule(_Config):
    """Explicit shifts, then a default chain when no shift covers the instant."""

    shifts: list[OnCallShift] = Field(default_factory=list)
    default_primary: list[Identifier] = Field(default_factory=list)
    default_backup: list[Identifier] = Field(default_factory=list)


class Practice(_Config):
    """Everything Nightline needs to know about one practice."""

    practice_id: Identifier
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(description="IANA time zone, e.g. America/New_York.")
    office_hours: OfficeHours = Field(default_factory=OfficeHours)
    triage: TriageRules = Field(default_factory=TriageRules)
    escalation: dict[Urgency, EscalationPolicy] = Field(
        default_factory=_default_policies,
        description="Practice-wide acknowledgement timeout and re-pages for every urgency "
        "(all three, or none for the defaults); a more urgent one may not be slower.",
    )
    schedule: SimpleSchedule = Field(default_factory=SimpleSchedule)
    clinicians: list[Clinician] = Field(default_factory=list)
    coverage_groups: list[CoverageGroup] = Field(default_factory=list)
    default_group: Identifier | None = Field(
        default=None, description="Group paged when an event names none (default: the first)."
    )
    escalation_policies: dict[Urgency, SchedulePolicy] = Field(
        default_factory=dict,
        description="Levels per urgency. An urgency without one borrows the nearest more "
        "urgent one's, else a less urgent one's levels at its own escalation pace.",
    )
    operator_desk: Identifier = Field(
        default="operator-desk", description="The answering service's human fallback."
    )
    content_retention_hours: int | None = Field(
        default=None,
        ge=24,
        le=24 * 366 * 7,
        description="How long message content is kept (encrypted) for pages, the app and "
        "administrators; then it is purged and the history remains. At least a day, so a "
        "running escalation never loses its message. Default: the deployment's "
        "NIGHTLINE_VAULT_TTL_S.",
    )
    revision: int = Field(default=1, ge=1, description="Bumped on every change.")

    @model_validator(mode="after")
    def _retention_outlasts_escalation(self) -> Practice:
        """Content must outlive the longest escalation, or its last pages carry nothing."""
        if self.content_retention_hours is None:
            return self
        longest = longest_escalation_s(self)
        if self.content_retention_hours * 3600 < longest + 3600:
            raise ValueError(
                f"content_retention_hours must be at least {math.ceil(longest / 3600) + 1}: "
                "the longest escalation pages for that long"
            )
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _pace_in_order(self) -> Practice:
        raise_problems("Practice", pace_problems(self.escalation, self.escalation_policies))
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def policy_for(self, urgency: Urgency) -> EscalationPolicy:
        """The practice-wide pace for an urgency.

        Validation makes ``escalation`` define every urgency. A practice built without
        validation (``model_construct``, ``model_copy``) may lack one: then the fastest
        of its policies and the urgency's built-in default applies, never a slower pace.
        """
        if urgency in self.escalation:
            return self.escalation[urgency]
        candidates = [*self.escalation.values(), _default_policies()[urgency]]
        return min(candidates, key=lambda p: (p.ack_timeout_seconds, p.repeats))

    def schedule_policy_for(self, urgency: Urgency) -> tuple[SchedulePolicy, bool] | None:
        """The schedule policy an urgency pages with, and whether its pace applies.

        Its own, else the nearest more urgent urgency's (levels and pace), else the
        nearest less urgent one's levels only (False: the urgency's own
        :meth:`policy_for` pace applies); None without ``escalation_policies``. The
        pace rule (:mod:`engine.domain.pace`) is checked against exactly this.
        """
        source = lender(self.escalation_policies, urgency)
        if source is None:
            return None
        return self.escalation_policies[source], source.rank >= urgency.rank

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone)


def longest_escalation_s(practice: Practice) -> float:
    """The longest time any urgency's escalation pages before it reaches the desk: every
    level's timeout times its pages (the flat policy pages primary, then backup)."""
    totals = [
        policy.ack_timeout_seconds * (policy.repeats + 1) * 2
        for policy in practice.escalation.values()
    ]
    totals += [
        sum(level.ack_timeout_seconds * (level.repeats + 1) for level in policy.levels)
        for policy in practice.escalation_policies.values()
    ]
    return max(totals, default=0.0)
