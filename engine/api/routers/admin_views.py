"""What an administrator checks before and after a change: the final schedule for a
range, gaps and double bookings for the next days, who is on call at a time, what triage
would do with a message, and the practice's saved revisions. Nothing here writes.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, TypeAdapter

from engine.api.practice_edits import practice_in_scope
from engine.api.problems import ApiProblem, FieldProblem, problem_responses
from engine.api.routers.admin import Admin, Services
from engine.domain.coverage_report import coverage_gaps, double_bookings, shared_clinicians
from engine.domain.desk_script import desk_script
from engine.domain.schedule import CoverageRole
from engine.domain.schedule_resolution import on_call, render
from engine.domain.triage import triage
from engine.schemas._base import AwareDatetime, Identifier
from engine.schemas.intake import CallerType, CallReason, IntakeEvent, IntakeKind

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin/practices", tags=["admin"])
_ERRORS = problem_responses(404)
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _within_reach(instant: datetime, name: str) -> datetime:
    """``instant`` if it is from 1970 to 2199: schedules are not computed near the ends
    of what a datetime holds, where a zone's offset overflows it (422 naming the field)."""
    if not EARLIEST <= instant < LATEST:
        problem = "must be from 1970 to 2199"
        raise ApiProblem(422, "Invalid request", f"{name}: {problem}", kind="validation",
                         errors=[FieldProblem(field=name, problem=problem)])  # fmt: skip
    return instant


class Segment(BaseModel):
    start: datetime
    end: datetime
    clinicians: list[str]


class GroupSchedule(BaseModel):
    group_id: str
    role: str
    segments: list[Segment]


@router.get("/{practice_id}/schedule", response_model=list[GroupSchedule], responses=_ERRORS)
async def final_schedule(
    practice_id: Identifier, services: Services, principal: Admin,
    start: AwareDatetime | None = None, days: Annotated[int, Query(ge=1, le=93)] = 14,
) -> list[GroupSchedule]:  # fmt: skip
    """Who is primary and backup, per coverage group, from ``start`` (default now) for
    ``days``: overrides applied, gaps as segments with nobody."""
    practice = await practice_in_scope(services, principal, practice_id)
    begin = _within_reach(start or services.clock.now(), "start")
    end = begin + timedelta(days=days)

    def rows() -> list[GroupSchedule]:
        return [
            GroupSchedule(
                group_id=g.group_id,
                role=role.value,
                segments=[
                    Segment(start=s.start, end=s.end, clinicians=list(s.clinicians))
                    for s in render(g, role, begin, end, practice.zone)
                ],
            )
            for g in practice.coverage_groups
            for role in CoverageRole
        ]

    return await asyncio.to_thread(rows)  # CPU work off the event loop


class Gap(BaseModel):
    group_id: str
    role: str
    start: datetime
    end: datetime


@router.get("/{practice_id}/gaps", response_model=list[Gap], responses=_ERRORS)
async def gaps(
    practice_id: Identifier, services: Services, principal: Admin,
    days: Annotated[int, Query(ge=1, le=93)] = 14,
) -> list[Gap]:  # fmt: skip
    """Times in the next ``days`` when a coverage group has no primary on call."""
    practice = await practice_in_scope(services, principal, practice_id)
    now = services.clock.now()
    return [
        Gap(group_id=g.group_id, role=g.role.value, start=g.start, end=g.end)
        for g in coverage_gaps(practice, now, now + timedelta(days=days))
    ]


class DoubleBookingOut(BaseModel):
    clinician_id: str
    start: datetime
    end: datetime
    other_practices: int = Field(
        description="How many other practices have this clinician on call then (which "
        "ones is not shown: they are other tenants')."
    )


@router.get("/{practice_id}/double-bookings", response_model=list[DoubleBookingOut],
            responses=_ERRORS)  # fmt: skip
async def double_booked(
    practice_id: Identifier, services: Services, principal: Admin,
    days: Annotated[int, Query(ge=1, le=93)] = 14,
) -> list[DoubleBookingOut]:  # fmt: skip
    """Times in the next ``days`` when one of this practice's on-call clinicians is also
    on call for another practice of the answering service. For a practice administrator
    another practice counts only where both list the clinician as a member of the other
    (``practices`` of the clinician); a service administrator sees every overlap."""
    practice = await practice_in_scope(services, principal, practice_id)
    everyone = {p.practice_id: p for p in await services.run_store(services.practice_store.all)}
    everyone[practice_id] = practice
    now = services.clock.now()
    found = await asyncio.to_thread(
        double_bookings, list(everyone.values()), now, now + timedelta(days=days)
    )  # CPU work off the event loop
    answer = []
    for booking in found:
        if practice_id not in booking.practice_ids:
            continue
        others = [
            other for other in booking.practice_ids
            if other != practice_id and (principal.all_practices or booking.clinician_id
                                         in shared_clinicians(practice, everyone[other]))
        ]  # fmt: skip
        if others:
            answer.append(DoubleBookingOut(
                clinician_id=booking.clinician_id, start=booking.start, end=booking.end,
                other_practices=len(others),
            ))  # fmt: skip
    return answer


class WhoAt(BaseModel):
    at: datetime
    on_call_line: str
    primary: dict[str, list[str]]
    levels: list[dict[str, Any]]


@router.get("/{practice_id}/on-call", response_model=WhoAt, responses=_ERRORS)
async def who_is_on_call(
    practice_id: Identifier, services: Services, principal: Admin,
    at: AwareDatetime | None = None,
) -> WhoAt:  # fmt: skip
    """Who is on call at ``at`` (default now): primary per group, and the urgent chain."""
    practice = await practice_in_scope(services, principal, practice_id)
    when = _within_reach(at or services.clock.now(), "at")
    script = desk_script(practice, when)
    return WhoAt(
        at=when,
        on_call_line=script.on_call_line,
        primary={g.group_id: list(on_call(g, CoverageRole.PRIMARY, when, practice.zone))
                 for g in practice.coverage_groups},
        levels=[{"name": lv.name, "people": list(lv.people), "operator_desk": lv.operator_desk}
                for lv in script.chain],
    )  # fmt: skip


class TriageCheck(BaseModel):
    message: str = Field(max_length=8000)
    reason: CallReason = CallReason.OFFICE_ROUTINE
    caller_type: CallerType = CallerType.PATIENT
    channel: Literal["sms", "chat", "email", "web_form", "voicemail", "voice_call"] = "sms"
    at: AwareDatetime | None = None


class TriageAnswer(BaseModel):
    urgency: str
    action: str
    rules: list[str]
    release_at: datetime | None


_CHANNEL_FIELDS: dict[str, dict[str, Any]] = {
    "sms": {}, "chat": {"session_id": "check"}, "email": {}, "web_form": {"form_id": "check"},
    "voicemail": {"call_id": "check", "duration_seconds": 0}, "voice_call": {"call_id": "check"},
}  # fmt: skip


@router.post("/{practice_id}/triage-check", response_model=TriageAnswer, responses=_ERRORS)
async def triage_check(
    practice_id: Identifier, body: TriageCheck, services: Services, principal: Admin
) -> TriageAnswer:
    """What Nightline would do with this message now (or ``at``), and which rules say so.
    Nothing is sent or kept."""
    practice = await practice_in_scope(services, principal, practice_id)
    when = _within_reach(body.at or services.clock.now(), "at")
    event = TypeAdapter(IntakeEvent).validate_python({
        "kind": IntakeKind(body.channel).value, "event_id": secrets.token_hex(16),
        "practice_id": practice_id, "source_system": "admin-check", "received_at": when,
        "caller": {"type": body.caller_type.value}, "reason": body.reason.value,
        "message": body.message, **_CHANNEL_FIELDS[body.channel],
    })  # fmt: skip
    result = triage(event, practice, when)
    return TriageAnswer(
        urgency=result.urgency.value, action=result.action.value, rules=list(result.reasons),
        release_at=result.release_at,
    )  # fmt: skip


class HistoryRow(BaseModel):
    revision: int
    at: datetime
    actor: str
    summary: str


@router.get("/{practice_id}/history", response_model=list[HistoryRow], responses=_ERRORS)
async def history(
    practice_id: Identifier, services: Services, principal: Admin
) -> list[HistoryRow]:
    """Every saved revision: when, by whom, and what changed (counts, never content)."""
    await practice_in_scope(services, principal, practice_id)
    rows = await services.run_store(services.practice_store.history, practice_id)
    return [
        HistoryRow(revision=r.revision, at=r.at, actor=r.actor, summary=r.summary) for r in rows
    ]
