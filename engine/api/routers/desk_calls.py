"""The desk's side of an incoming call: the practice's script (greeting, office open or
closed, call-handling rules, and the on-call chain by name, from the pure
``desk_script``), and paging on the caller's behalf, which makes an intake event from
the desk. Only for practices the operator's desks serve (``desk.works``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from engine.api.ingest import accept_event
from engine.api.problems import ApiProblem, problem_responses
from engine.api.routers.desk import Operator, Services, operator_id, served_practice
from engine.api.routers.ingest import IntakeAccepted
from engine.domain.desk_script import desk_script
from engine.schemas._base import Identifier
from engine.schemas.intake import Urgency

__all__ = ["router"]

router = APIRouter(prefix="/v1/desk", tags=["desk"])
_ERRORS = problem_responses(404, 409)


@router.post(
    "/page",
    status_code=202,
    response_model=IntakeAccepted,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/IntakeEvent"}}
            },
        }
    },
    summary="Page on a caller's behalf",
)
async def page(body: dict[str, Any], services: Services, principal: Operator) -> IntakeAccepted:
    """An intake event from the desk, handled like any other (triage, then pages);
    ``source_system`` is set to the desk."""
    event = {**body, "source_system": f"desk.{operator_id(principal)}"}
    named = body.get("practice_id")
    if isinstance(named, str) and await served_practice(services, principal, named) is None:
        raise ApiProblem(403, "Forbidden", "Your desks do not take calls for that practice.",
                         kind="forbidden")  # fmt: skip
    accepted = await accept_event(services, principal, event)
    return IntakeAccepted(event_id=accepted.event_id, dispatch_id=accepted.dispatch_id)


class ScriptLevel(BaseModel):
    name: str
    people: list[str] = Field(description="Display names, in paging order.")
    timeout_seconds: float | None
    repeats: int | None
    operator_desk: bool


class CallScript(BaseModel):
    practice_id: str
    practice_name: str
    greeting: str
    local_time: str
    office_open: bool
    next_opening: datetime | None
    on_call_line: str = Field(description="E.g. 'Dr. Lee is on call now, then NP Chen, ...'")
    chain: list[ScriptLevel]
    reason_urgency: dict[str, str]
    caller_type_minimum: dict[str, str]
    live_transfer_urgencies: list[str]


@router.get(
    "/practices/{practice_id}/script",
    response_model=CallScript,
    responses=_ERRORS,
    summary="The script for an incoming call",
)
async def call_script(
    practice_id: Identifier,
    services: Services,
    principal: Operator,
    urgency: Urgency = Urgency.URGENT,
) -> CallScript:
    """Greeting, office open or closed now, the call-handling rules, and who would be
    paged now for a message of ``urgency``, by name, ending at the desk."""
    practice = await served_practice(services, principal, practice_id)
    if practice is None:
        raise ApiProblem(404, "Not found", "No practice of your desks has that id.",
                         kind="not-found")  # fmt: skip
    script = desk_script(practice, services.clock.now(), urgency)
    return CallScript(
        practice_id=script.practice_id,
        practice_name=script.practice_name,
        greeting=script.greeting,
        local_time=script.local_time,
        office_open=script.office_open,
        next_opening=script.next_opening,
        on_call_line=script.on_call_line,
        chain=[
            ScriptLevel(
                name=lv.name,
                people=list(lv.people),
                timeout_seconds=lv.timeout_seconds,
                repeats=lv.repeats,
                operator_desk=lv.operator_desk,
            )
            for lv in script.chain
        ],
        reason_urgency=script.reason_urgency,
        caller_type_minimum=script.caller_type_minimum,
        live_transfer_urgencies=list(script.live_transfer_urgencies),
    )
