"""Practice administration: the practice model, read and written whole or by the common
operation "Dr. Lee covers for Dr. Ash from ... to ...", and the views an administrator
checks before saving: the final schedule, gaps, who is on call at a time, and what triage
would do with a message.

Every write goes through the practice-file validation (the same messages, as 422) and the
practice store, which versions, audits and publishes it. Writes need ``If-Match`` with the
revision that was read (the ETag): a concurrent save by another administrator is 412, a
missing ``If-Match`` 428. The answer comes once the broker has the new revision.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from engine.adapters.practice_store import PublishError, RevisionConflict
from engine.api.deps import Principal, requires, services_of
from engine.api.problems import ApiProblem, FieldProblem, problem_responses
from engine.api.services import ApiServices
from engine.domain.coverage_report import coverage_gaps, double_bookings
from engine.domain.desk_script import desk_script
from engine.domain.practice import Practice
from engine.domain.schedule import CoverageRole, Override, OverrideKind
from engine.domain.schedule_resolution import group_for, on_call, render
from engine.domain.triage import triage
from engine.practice_files import PracticeFileError, check_practice, load_practice_text
from engine.schemas._base import AwareDatetime, Identifier
from engine.schemas.intake import CallerType, CallReason, IntakeKind

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin/practices", tags=["admin"])
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
_ERRORS = problem_responses(404, 412, 428)
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description="The ETag (revision) this change is based on."),
]


def _etag(revision: int) -> str:
    return f'"{revision}"'


async def practice_in_scope(
    services: ApiServices, principal: Principal, practice_id: str
) -> Practice:
    """The practice, if the caller may act for it; else 404 (whether or not it exists)."""
    practice = None
    if principal.may_act_for(practice_id):
        practice = await services.run_store(services.practice_store.get, practice_id)
    if practice is None:
        raise ApiProblem(404, "Not found", "No practice of yours has that id.", kind="not-found")
    return practice


def _expected(if_match: str | None) -> int:
    if if_match is None:
        raise ApiProblem(
            428, "Precondition required",
            "Send If-Match with the ETag you read, so a concurrent change is not overwritten.",
            kind="if-match-required",
        )  # fmt: skip
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ApiProblem(412, "Precondition failed", "If-Match is not a revision.", kind="stale")
    return int(text)


async def _save(
    services: ApiServices, principal: Principal, practice: Practice, expected: int
) -> JSONResponse:
    actor = principal.subject.removeprefix("account:")
    try:
        revision = await services.run_store(services.practice_store.put, practice, actor, expected)
    except RevisionConflict as conflict:
        raise ApiProblem(
            412, "Precondition failed",
            f"Someone saved revision {conflict.current} meanwhile: read it again, then retry.",
            kind="stale",
        ) from None  # fmt: skip
    except PublishError as failed:
        services.republish_later(practice.practice_id)  # saved: make sure workers get it
        raise ApiProblem(
            503, "Unavailable",
            f"Saved as revision {failed.revision}, but not yet sent to the workers: Nightline "
            "keeps sending it. Read the practice again before another change.",
            kind="saved-not-live",
            headers={"Retry-After": "5", "ETag": _etag(failed.revision)},
        ) from None  # fmt: skip
    return JSONResponse({"practice_id": practice.practice_id, "revision": revision},
                        headers={"ETag": _etag(revision)})  # fmt: skip


def _invalid(messages: list[tuple[str, str]]) -> ApiProblem:
    return ApiProblem(
        422, "Invalid practice", "; ".join(f"{w}: {m}" if w else m for w, m in messages)[:2000],
        kind="validation", errors=[FieldProblem(field=w or "(practice)", problem=m)
                                   for w, m in messages[:50]],
    )  # fmt: skip


@router.get("/{practice_id}", responses=_ERRORS, summary="The practice")
async def get_practice(
    practice_id: Identifier, services: Services, principal: Admin
) -> JSONResponse:
    """The practice definition; its ``ETag`` is the revision to send back in ``If-Match``."""
    practice = await practice_in_scope(services, principal, practice_id)
    return JSONResponse(
        practice.model_dump(mode="json"), headers={"ETag": _etag(practice.revision)}
    )


@router.put("/{practice_id}", responses=_ERRORS, summary="Replace the practice")
async def put_practice(
    practice_id: Identifier, request: Request, services: Services, principal: Admin,
    if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """The whole definition (as a practice file holds it, in JSON). Validated exactly like
    a practice file; saved as the next revision."""
    current = await practice_in_scope(services, principal, practice_id)  # 404 tells nothing
    expected = _expected(if_match)
    raw = await request.body()
    try:
        text = raw.decode().replace("\t", " ")
        loaded = load_practice_text(text, "request").practice
    except UnicodeDecodeError:
        raise _invalid([("", "the body is not UTF-8 text")]) from None
    except PracticeFileError as exc:
        raise _invalid([(i.where, i.message) for i in exc.issues]) from None
    if loaded.practice_id != practice_id:
        raise _invalid([("practice_id", "must be the practice of the URL")])
    if loaded.operator_desk != current.operator_desk and not principal.all_practices:
        raise ApiProblem(  # the last level of every escalation is the answering service's
            403, "Forbidden", "Only a service administrator changes the operator desk.",
            kind="forbidden",
        )  # fmt: skip
    return await _save(services, principal, loaded, expected)


SECTIONS = (
    "office_hours", "triage", "escalation", "escalation_policies", "schedule", "clinicians",
    "coverage_groups", "default_group", "content_retention_hours", "name", "timezone",
)  # fmt: skip
"""The parts of a practice an administrator replaces one at a time (the desk is not one)."""


@router.put("/{practice_id}/sections/{section}", responses=_ERRORS, summary="Replace a part")
async def put_section(
    practice_id: Identifier, section: Literal[SECTIONS], request: Request,  # type: ignore[valid-type]
    services: Services, principal: Admin, if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """One part of the practice (``clinicians``, ``coverage_groups`` with their layers
    and overrides, ``escalation_policies``, ``triage`` rules, ``office_hours`` and closed
    days, ...): its new value as JSON, validated with the whole practice like a file."""
    current = await practice_in_scope(services, principal, practice_id)
    expected = _expected(if_match)
    try:
        value = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _invalid([(section, "the body is not JSON")]) from None
    document = {**current.model_dump(mode="json", exclude={"revision"}), section: value}
    try:
        loaded = load_practice_text(json.dumps(document), "request").practice
    except (PracticeFileError, RecursionError, ValueError) as exc:
        issues = getattr(exc, "issues", [])
        raise _invalid([(i.where, i.message) for i in issues] or [(section, "not valid")]) from None
    return await _save(services, principal, loaded, expected)


class NewOverride(BaseModel):
    """An override of one coverage group: who (``clinician_id``), how (``kind``: replace,
    add or remove), which role, and when."""

    clinician_id: Identifier
    start: AwareDatetime
    end: AwareDatetime
    kind: OverrideKind = OverrideKind.REPLACE
    role: CoverageRole = CoverageRole.PRIMARY
    note: str = Field(default="", max_length=300)


def _with_overrides(practice: Practice, group_id: str, change: Any) -> Practice:
    groups = []
    found = False
    for group in practice.coverage_groups:
        if group.group_id == group_id:
            found = True
            group = group.model_copy(update={"overrides": change(list(group.overrides))})
        groups.append(group)
    if not found:
        raise ApiProblem(404, "Not found", "No coverage group has that id.", kind="not-found")
    changed = practice.model_copy(update={"coverage_groups": groups})
    problems = check_practice(changed)
    if problems:
        raise _invalid([("", p) for p in problems])
    return Practice.model_validate(changed.model_dump())


@router.post("/{practice_id}/groups/{group_id}/overrides", responses=_ERRORS,
             summary="Add an override")  # fmt: skip
async def add_override(
    practice_id: Identifier, group_id: Identifier, body: NewOverride, services: Services,
    principal: Admin, if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    practice = await practice_in_scope(services, principal, practice_id)
    expected = _expected(if_match)
    if body.end <= body.start:
        raise _invalid([("end", "must be after start")])
    override = Override(override_id=f"ovr-{secrets.token_hex(4)}", **body.model_dump())
    changed = _with_overrides(practice, group_id, lambda found: [*found, override])
    answer = await _save(services, principal, changed, expected)
    answer.headers["Location"] = (
        f"/v1/admin/practices/{practice_id}/groups/{group_id}/overrides/{override.override_id}"
    )
    return answer


@router.delete("/{practice_id}/groups/{group_id}/overrides/{override_id}", responses=_ERRORS,
               summary="Remove an override")  # fmt: skip
async def remove_override(
    practice_id: Identifier, group_id: Identifier, override_id: Identifier,
    services: Services, principal: Admin, if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    practice = await practice_in_scope(services, principal, practice_id)
    expected = _expected(if_match)
    group = next((g for g in practice.coverage_groups if g.group_id == group_id), None)
    if group is None or all(o.override_id != override_id for o in group.overrides):
        raise ApiProblem(404, "Not found", "No override has that id.", kind="not-found")
    changed = _with_overrides(
        practice, group_id, lambda found: [o for o in found if o.override_id != override_id]
    )
    return await _save(services, principal, changed, expected)


class ReplaceOnCall(BaseModel):
    """``by`` covers instead of whoever is on call (``replace`` says who that is)."""

    replace: Identifier = Field(description="Who is on call now and is being replaced.")
    by: Identifier = Field(description="Who covers instead.")
    start: AwareDatetime
    end: AwareDatetime
    role: CoverageRole = CoverageRole.PRIMARY
    group_id: Identifier | None = None
    note: str = Field(default="", max_length=300)


@router.post("/{practice_id}/overrides/replace", responses=_ERRORS, summary="X covered by Y")
async def replace_on_call(
    practice_id: Identifier, body: ReplaceOnCall, services: Services, principal: Admin,
    if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """The everyday change ("I'm sick, Dr. Lee covers tonight") as one call: an override
    of the coverage group, validated and saved like any other write."""
    practice = await practice_in_scope(services, principal, practice_id)
    expected = _expected(if_match)
    if body.end <= body.start:
        raise _invalid([("end", "must be after start")])
    try:
        group = group_for(practice, body.group_id)
    except KeyError:
        raise _invalid([("group_id", "no such coverage group")]) from None
    held = render(group, body.role, body.start, body.end, practice.zone)
    if not any(body.replace in segment.clinicians for segment in held):
        raise _invalid([("replace", f"{body.replace} is not {body.role.value} in that time")])
    override = Override(
        override_id=f"replace-{secrets.token_hex(4)}", role=body.role, kind=OverrideKind.REPLACE,
        clinician_id=body.by, start=body.start, end=body.end,
        note=body.note or f"covers for {body.replace}",
    )  # fmt: skip
    groups = [
        g.model_copy(update={"overrides": [*g.overrides, override]}) if g is group else g
        for g in practice.coverage_groups
    ]
    changed = practice.model_copy(update={"coverage_groups": groups})
    problems = check_practice(changed)
    if problems:
        raise _invalid([("", p) for p in problems])
    return await _save(services, principal, Practice.model_validate(changed.model_dump()), expected)


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
    begin = start or services.clock.now()
    end = begin + timedelta(days=days)
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
    on call for another practice of the answering service."""
    practice = await practice_in_scope(services, principal, practice_id)
    everyone = await services.run_store(services.practice_store.all)
    now = services.clock.now()
    found = await asyncio.to_thread(
        double_bookings, [practice, *everyone], now, now + timedelta(days=days)
    )  # CPU work off the event loop
    return [
        DoubleBookingOut(clinician_id=b.clinician_id, start=b.start, end=b.end,
                         other_practices=len(b.practice_ids) - 1)
        for b in found
        if practice_id in b.practice_ids
    ]  # fmt: skip


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
    when = at or services.clock.now()
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
    from pydantic import TypeAdapter

    from engine.schemas.intake import IntakeEvent

    practice = await practice_in_scope(services, principal, practice_id)
    when = body.at or services.clock.now()
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
