"""The operator console: the live desk queue (rendered here, then kept live by
``desk.js`` on the API's own ``/v1/desk/stream``), claiming and resolving an alert,
"my claims", the script for an incoming call, and paging on a caller's behalf. Every
action goes through the desk routes of :mod:`engine.api.routers.desk`.

Outcomes of actions come back as a fixed notice code in the redirect (never free
text), so a page can be reloaded or shared without repeating or leaking anything.
The message typed for a page is PHI: it goes to the desk route and nowhere else (no
log, no redirect, no error text).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from engine.api.deps import Principal, requires, services_of
from engine.api.problems import ApiProblem, field_problems
from engine.api.routers import desk as desk_routes
from engine.api.routers import desk_calls
from engine.api.routers.desk import works
from engine.api.services import ApiServices
from engine.domain.practice import Practice
from engine.portal.render import PREFIX, page, see_other
from engine.schemas._base import Identifier
from engine.schemas.catalogue import spec
from engine.schemas.codec import field_names
from engine.schemas.intake import CallerType, CallReason, Urgency

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Operator = Annotated[Principal, Depends(requires("operator", "service_admin"))]
DESK = f"{PREFIX}/desk"

OUTCOMES = {
    desk_routes.Outcome.REACHED_CLINICIAN: "Reached the clinician by phone",
    desk_routes.Outcome.ADVISED_911: "Caller advised to call 911",
    desk_routes.Outcome.MESSAGE_TAKEN: "Message taken",
    desk_routes.Outcome.CALLER_UNREACHABLE: "Caller could not be reached",
    desk_routes.Outcome.OTHER: "Other (say what in the note)",
}
NOTICES = {
    "claimed": ("ok", "You claimed the alert. It is under My claims until you resolve it."),
    "claim-sent": ("ok", "Claim sent; it shows under My claims once the desk records it."),
    "taken": ("error", "This alert is already claimed by another operator."),
    "gone": ("error", "That alert is no longer open (resolved, or a clinician took it)."),
    "resolved": ("ok", "Resolved. The outcome is recorded."),
    "not-owner": ("error", "You cannot resolve that: it is not claimed by you, not recorded "
                           "yet, or already resolved."),
    "paged": ("ok", "Page sent. It is handled like any call: triage, then pages."),
}  # fmt: skip
_LABELS = {
    "practice_id": "Practice", "caller.type": "Caller is", "caller.name": "Caller's name",
    "caller.callback_number": "Callback number", "patient.name": "Patient's name",
    "reason": "Reason", "operator_urgency": "Urgency", "message": "Message for the clinician",
}  # fmt: skip
_SENT_BEFORE = "Nothing more was sent: this form went out already. Press Page now to send another."
_PAGE_FIELDS = (
    "event_id", "practice_id", "caller_type", "caller_name", "callback_number",
    "patient_name", "reason", "urgency", "message", "on_hold",
)  # fmt: skip


async def desk_practices(services: ApiServices, principal: Principal) -> list[Practice]:
    """The practices an operator takes calls for: the API's own rule (in their scope and
    served by one of their desks; every practice for a service administrator)."""
    everyone = await services.run_store(services.practice_store.all)
    served = [p for p in everyone if works(principal, p.practice_id, p.operator_desk)]
    return sorted(served, key=lambda p: p.name)


async def _console(
    request: Request, services: ApiServices, principal: Principal, *, practice: str | None,
    urgency: Urgency, notice: str | None, paging: dict[str, str] | None = None,
    page_error: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    queue = await desk_routes.list_alerts(services, principal)
    claims = await desk_routes.my_claims(services, principal)
    practices = await desk_practices(services, principal)
    chosen = practice if any(p.practice_id == practice for p in practices) else None
    script = None
    if chosen is not None:
        script = await desk_calls.call_script(chosen, services, principal, urgency)
    zones = {p.practice_id: p.timezone for p in practices}
    names = {p.practice_id: p.name for p in practices}
    blank = dict.fromkeys(_PAGE_FIELDS, "") | {"event_id": str(uuid.uuid4())}
    return page(
        request, "desk.html", principal, queue=queue.alerts, claims=claims,
        practices=practices, chosen=chosen, urgency=urgency.value, script=script,
        zones=zones, names=names,
        notice=NOTICES.get(notice or ""), outcomes=OUTCOMES, urgencies=list(Urgency),
        caller_types=list(CallerType), reasons=[r for r in CallReason if r != "unrecognised"],
        paging=paging or blank, page_error=page_error,
        status_code=status_code,
    )  # fmt: skip


@router.get("/desk")
async def console(
    request: Request,
    services: Services,
    principal: Operator,
    practice: Annotated[str | None, Query(max_length=64)] = None,
    urgency: Urgency = Urgency.URGENT,
    notice: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return await _console(
        request, services, principal, practice=practice, urgency=urgency, notice=notice
    )


def _back(notice: str, practice: str | None = None) -> Response:
    query = {"notice": notice} | ({"practice": practice} if practice else {})
    return see_other(f"{DESK}?{urlencode(query)}")


@router.post("/desk/alerts/{dispatch_id}/claim")
async def claim(dispatch_id: Identifier, services: Services, principal: Operator) -> Response:
    try:
        claimed = await desk_routes.claim(dispatch_id, services, principal)
    except ApiProblem as problem:
        if problem.problem.status == 409:
            return _back("taken")
        if problem.problem.status == 404:
            return _back("gone")
        raise
    return _back("claimed" if claimed.status == "claimed" else "claim-sent")


@router.post("/desk/alerts/{dispatch_id}/resolve")
async def resolve(
    dispatch_id: Identifier,
    services: Services,
    principal: Operator,
    outcome: Annotated[desk_routes.Outcome, Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    body = desk_routes.Resolution(outcome=outcome, note=note)
    try:
        await desk_routes.resolve(dispatch_id, body, services, principal)
    except ApiProblem as problem:
        if problem.problem.status == 409:
            return _back("not-owner")
        raise
    return _back("resolved")


def _intake(form: dict[str, str], now: datetime) -> dict[str, object]:
    """The intake event the page form describes (a call the operator is on)."""
    return {
        "kind": "voice_call",
        "event_id": form["event_id"],
        "practice_id": form["practice_id"],
        "source_system": "desk",  # the desk route names the operator
        "received_at": now.isoformat(),
        "call_id": "desk-" + form["event_id"].replace("-", "")[:16],
        "caller_on_hold": form["on_hold"] == "yes",
        "caller": {
            "type": form["caller_type"],
            "name": form["caller_name"] or None,
            "callback_number": form["callback_number"] or None,
        },
        "patient": {"name": form["patient_name"]},
        "reason": form["reason"],
        "operator_urgency": form["urgency"],
        "message": form["message"],
    }


@router.post("/desk/page")
async def page_for_caller(request: Request, services: Services, principal: Operator) -> Response:
    """On invalid input the form comes back filled in, with the fields named (never
    their values), so nothing typed is lost. The form carries its event id, so sending
    it twice pages once."""
    raw = await request.form()
    form = {name: str(raw.get(name) or "").strip() for name in _PAGE_FIELDS}
    try:
        uuid.UUID(form["event_id"])
    except ValueError:
        form["event_id"] = str(uuid.uuid4())
    event = _intake(form, services.clock.now())
    fields = _invalid_fields(event)
    error, status = f"Nothing was sent. Check: {', '.join(fields)}.", 422
    if not fields:
        try:
            await desk_calls.page(event, services, principal)
        except ApiProblem as problem:
            if problem.problem.status != 409:
                raise
            # This form's event id was sent before (back button, a second click): the
            # first one went out. Nothing more is sent; a new id lets the operator page
            # again on purpose.
            error, status = _SENT_BEFORE, 409
            form["event_id"] = str(uuid.uuid4())
        else:
            return _back("paged", form["practice_id"])
    return await _console(
        request, services, principal, practice=form["practice_id"] or None,
        urgency=Urgency.URGENT, notice=None, paging=form, page_error=error,
        status_code=status,
    )  # fmt: skip


def _invalid_fields(event: dict[str, object]) -> list[str]:
    """The fields of the form's event that fail the intake schema, checked here first:
    the ingest forwards an invalid event to the desk (it may hold a caller's message),
    but this operator is at the desk already and only needs to correct the form."""
    adapter = spec("intake").adapter
    try:
        adapter.validate_python(event)
    except ValidationError as exc:
        problems = field_problems(exc.errors(include_input=False), field_names(adapter))
        fields = [p.field.removeprefix("voice_call.") for p in problems]
        return list(dict.fromkeys(_LABELS.get(f, f) for f in fields))
    return []
