"""Shift swaps over the API: a clinician asks for a colleague of the practice to take one
of their shifts (``POST /v1/app/swap-requests``); the practice's administrators list the
requests and approve or decline them. Approving creates the override through the same
code as ``POST .../overrides/replace`` (with ``If-Match``: the revision the
administrator read), then marks the request approved.

Audited (ids and times only, never the requester's note): ``swap_requested``,
``swap_approved`` (after the override, which the practice store audits itself) and
``swap_declined``, each written before the request changes.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from engine.api.audit_entries import change_entries
from engine.api.deps import Principal, requires, services_of
from engine.api.ingest import unavailable
from engine.api.practice_edits import IfMatch, practice_in_scope
from engine.api.problems import ApiProblem, FieldProblem, problem_responses
from engine.api.publishing import KafkaUnavailableError
from engine.api.routers import admin_items
from engine.api.services import ApiServices
from engine.api.swap_requests import SwapRequestStore
from engine.domain.people import people_of
from engine.domain.schedule import CoverageRole
from engine.domain.schedule_resolution import group_for, render
from engine.domain.swaps import NOTE_MAX, SwapError, SwapRequest, SwapStatus, decide, new_request
from engine.schemas._base import AwareDatetime, Identifier
from engine.schemas.codec import encode

__all__ = ["admin_router", "app_router", "store_of"]

app_router = APIRouter(prefix="/v1/app", tags=["app"])
admin_router = APIRouter(prefix="/v1/admin/practices", tags=["admin"])
Services = Annotated[ApiServices, Depends(services_of)]
Clinician = Annotated[Principal, Depends(requires("clinician"))]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
_ERRORS = problem_responses(404, 409, 412, 428)


class SwapAsk(BaseModel):
    practice_id: Identifier
    group_id: Identifier
    role: CoverageRole = CoverageRole.PRIMARY
    start: AwareDatetime
    end: AwareDatetime
    with_clinician_id: Identifier = Field(description="The colleague who would take it.")
    note: str = Field(default="", max_length=NOTE_MAX)


class SwapApproved(BaseModel):
    request: SwapRequest
    revision: int = Field(description="The practice's revision with the new override.")


def store_of(services: ApiServices) -> SwapRequestStore:
    return SwapRequestStore(services.redis, services.keys)


async def _audit(
    services: ApiServices, principal: Principal, request: SwapRequest, action: str
) -> None:
    """One entry in the practice's trail (its subject the practice, the request named in
    the detail): ids and times, never the note."""
    detail = (f"request={request.request_id} group={request.group_id} role={request.role.value} "
              f"requester={request.requester_id} with={request.with_clinician_id} "
              f"start={request.start.isoformat()} end={request.end.isoformat()}")  # fmt: skip
    actor = principal.subject.removeprefix("account:")
    for event in change_entries("practice", request.practice_id, [request.practice_id],
                                actor, action, detail, services.clock.now()):  # fmt: skip
        await services.publisher.publish(
            services.settings.topic("audit"), request.request_id, encode(event)
        )


def _invalid(field: str, message: str) -> ApiProblem:
    return ApiProblem(422, "Invalid request", f"{field}: {message}", kind="validation",
                      errors=[FieldProblem(field=field, problem=message)])  # fmt: skip


def _refused(error: SwapError) -> ApiProblem:
    if error.field == "status":
        return ApiProblem(409, "Conflict", error.message[0].upper() + error.message[1:] + ".",
                          kind="already-decided")  # fmt: skip
    return _invalid(error.field, error.message)


@app_router.post("/swap-requests", response_model=SwapRequest, status_code=201,
                 responses=_ERRORS, summary="Ask for a shift swap")  # fmt: skip
async def ask_swap(body: SwapAsk, services: Services, principal: Clinician) -> SwapRequest:
    """Ask that a colleague of the practice take one of my shifts (a time when I am on
    call in that group and role); a practice administrator approves it."""
    me = principal.clinician_id
    practice = await services.practices.get(body.practice_id) if principal.may_act_for(
        body.practice_id) else None  # fmt: skip
    if practice is None or not me:
        raise ApiProblem(404, "Not found", "No practice of yours has that id.", kind="not-found")
    try:
        request = new_request(
            "swap-" + secrets.token_hex(6), practice.practice_id, body.group_id, body.role,
            body.start, body.end, me, body.with_clinician_id, body.note, services.clock.now(),
        )  # fmt: skip
        group = group_for(practice, body.group_id)
    except SwapError as error:
        raise _refused(error) from None
    except KeyError:
        raise _invalid("group_id", "no such coverage group") from None
    if body.with_clinician_id not in people_of(practice):
        raise _invalid("with_clinician_id", "not a clinician of that practice")
    held = await asyncio.to_thread(
        render, group, body.role, body.start, body.end, practice.zone
    )  # CPU work off the event loop (the span is capped by new_request)
    if not any(me in segment.clinicians for segment in held):
        raise _invalid("start", f"you are not {body.role.value} in that time")
    try:
        await _audit(services, principal, request, "swap_requested")
    except KafkaUnavailableError:
        raise unavailable("Kafka") from None
    await store_of(services).add(request, services.clock.now())
    return request


@admin_router.get("/{practice_id}/swap-requests", response_model=list[SwapRequest],
                  responses=_ERRORS, summary="Shift swap requests")  # fmt: skip
async def swap_requests(
    practice_id: Identifier, services: Services, principal: Admin
) -> list[SwapRequest]:
    """The practice's swap requests, newest first: pending, approved and declined."""
    await practice_in_scope(services, principal, practice_id)
    return await store_of(services).of_practice(practice_id)


async def _pending(
    services: ApiServices, principal: Principal, practice_id: str, request_id: str, approve: bool
) -> tuple[SwapRequest, SwapRequest]:
    """The request as stored and as decided (409 unless it is pending)."""
    await practice_in_scope(services, principal, practice_id)
    request = await store_of(services).get(practice_id, request_id)
    if request is None:
        raise ApiProblem(404, "Not found", "No swap request has that id.", kind="not-found")
    actor = principal.subject.removeprefix("account:")
    try:
        return request, decide(request, approve, actor, services.clock.now())
    except SwapError as error:
        raise _refused(error) from None


async def _record(services: ApiServices, principal: Principal, decided: SwapRequest) -> None:
    await _audit(services, principal, decided, f"swap_{decided.status.value}")
    if not await store_of(services).switch(SwapStatus.PENDING, decided):
        raise ApiProblem(409, "Conflict", "The request was decided meanwhile.",
                         kind="already-decided")  # fmt: skip


@admin_router.post("/{practice_id}/swap-requests/{request_id}/approve",
                   response_model=SwapApproved, responses=_ERRORS,
                   summary="Approve a shift swap")  # fmt: skip
async def approve_swap(
    practice_id: Identifier, request_id: Identifier, services: Services, principal: Admin,
    if_match: IfMatch = None,
) -> SwapApproved:  # fmt: skip
    """The colleague replaces the requester for that time (an override, exactly as
    ``overrides/replace`` makes it; ``If-Match`` is the revision read), then the request
    is approved. 422 if the requester no longer holds that shift."""
    request, decided = await _pending(services, principal, practice_id, request_id, True)
    replace = admin_items.ReplaceOnCall(
        replace=request.requester_id, by=request.with_clinician_id, start=request.start,
        end=request.end, role=request.role, group_id=request.group_id,
        note=f"swap {request.request_id}",
    )  # fmt: skip
    saved = await admin_items.replace_on_call(practice_id, replace, services, principal, if_match)
    await _record(services, principal, decided)
    return SwapApproved(request=decided, revision=json.loads(bytes(saved.body))["revision"])


@admin_router.post("/{practice_id}/swap-requests/{request_id}/decline",
                   response_model=SwapRequest, responses=_ERRORS,
                   summary="Decline a shift swap")  # fmt: skip
async def decline_swap(
    practice_id: Identifier, request_id: Identifier, services: Services, principal: Admin
) -> SwapRequest:
    _, decided = await _pending(services, principal, practice_id, request_id, False)
    await _record(services, principal, decided)
    return decided
