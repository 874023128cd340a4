"""Triage rules: the urgency of each reason code, the lowest urgency of each caller type,
the practice's emergency and urgent phrases, saved through the API's ``put_section``;
and "Try a message": what Nightline would do with a message now and why, from the API's
``triage_check`` (nothing sent or kept). The message typed is never logged: it travels
only in the POST body and is shown back on the answer page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from engine.api.deps import Principal, requires, services_of
from engine.api.practice_edits import practice_in_scope
from engine.api.routers import admin, admin_views
from engine.api.services import ApiServices
from engine.portal.render import PREFIX, page, see_other
from engine.portal.routes.settings_forms import form_problems, json_request, saved
from engine.schemas._base import Identifier
from engine.schemas.intake import CallerType, CallReason, Urgency

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
CHANNELS = ("sms", "chat", "email", "web_form", "voicemail", "voice_call")


def _phrases(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


async def _page(
    request: Request, services: ApiServices, principal: Principal, practice_id: str, *,
    status_code: int = 200, problems: list[str] | None = None, done: bool = False,
    check: dict[str, str] | None = None, answer: admin_views.TriageAnswer | None = None,
    check_problems: list[str] | None = None,
) -> Response:  # fmt: skip
    practice = await practice_in_scope(services, principal, practice_id)
    return page(
        request, "triage.html", principal, practice_id=practice_id, practice=practice,
        rules=practice.triage, reasons=[r.value for r in CallReason],
        callers=[c.value for c in CallerType], urgencies=[u.value for u in Urgency],
        channels=CHANNELS, problems=problems or [], done=done,
        check=check or {"message": "", "reason": "office_routine", "caller_type": "patient",
                        "channel": "sms"},
        answer=answer, check_problems=check_problems or [], status_code=status_code,
    )  # fmt: skip


@router.get("/practices/{practice_id}/triage")
async def triage_rules(
    request: Request, practice_id: Identifier, services: Services, principal: Admin,
    saved_rules: bool = False,
) -> Response:  # fmt: skip
    return await _page(request, services, principal, practice_id, done=saved_rules)


@router.post("/practices/{practice_id}/triage")
async def edit_rules(
    request: Request, practice_id: Identifier, services: Services, principal: Admin
) -> Response:
    """The whole triage section, with what the form does not show kept as it was."""
    form = await request.form()
    practice = await practice_in_scope(services, principal, practice_id)
    value: dict[str, Any] = practice.triage.model_dump(mode="json")
    value["reason_urgency"] = {
        r.value: str(form[f"reason-{r.value}"]) for r in CallReason
        if form.get(f"reason-{r.value}")
    }  # fmt: skip
    value["caller_type_minimum"] = {
        c.value: str(form[f"caller-{c.value}"]) for c in CallerType
        if form.get(f"caller-{c.value}")
    }  # fmt: skip
    value["emergency_keywords"] = _phrases(str(form.get("emergency_keywords", "")))
    value["urgent_keywords"] = _phrases(str(form.get("urgent_keywords", "")))
    problems = await saved(admin.put_section(
        practice_id, "triage", json_request(value), services, principal,
        if_match=str(form.get("revision", "")),
    ))  # fmt: skip
    if problems:
        return await _page(request, services, principal, practice_id, status_code=422,
                           problems=problems)  # fmt: skip
    return see_other(f"{PREFIX}/practices/{practice_id}/triage?saved_rules=true")


@router.post("/practices/{practice_id}/triage/try")
async def try_message(
    request: Request, practice_id: Identifier, services: Services, principal: Admin
) -> Response:
    """The answer is shown on this page (nothing changed, so no redirect)."""
    form = await request.form()
    check = {name: str(form.get(name, "")) for name in
             ("message", "reason", "caller_type", "channel")}  # fmt: skip
    try:
        body = admin_views.TriageCheck.model_validate(check)
    except ValidationError as error:
        return await _page(request, services, principal, practice_id, status_code=422,
                           check=check, check_problems=form_problems(error))  # fmt: skip
    answer = await admin_views.triage_check(practice_id, body, services, principal)
    return await _page(request, services, principal, practice_id, check=check, answer=answer)
