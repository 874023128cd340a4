"""Shift swaps in the portal: a clinician asks from their shifts on ``/portal/me``; the
practice's administrators see the requests on ``/portal/practices/{id}/swaps`` and
approve (the override is made from the revision the page read) or decline. Every action
is the API's own route in :mod:`engine.api.routers.swaps`."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from engine.api.deps import Principal, requires, services_of
from engine.api.practice_edits import practice_in_scope
from engine.api.routers import swaps
from engine.api.services import ApiServices
from engine.domain.swaps import NOTE_MAX, SwapStatus
from engine.portal.render import PREFIX, page, see_other
from engine.portal.routes.users import form_body
from engine.schemas._base import Identifier

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
Clinician = Annotated[Principal, Depends(requires("clinician"))]


@router.post("/me/swaps")
async def ask_swap(
    services: Services, principal: Clinician,
    practice_id: Annotated[str, Form(max_length=128)],
    group_id: Annotated[str, Form(max_length=128)], role: Annotated[str, Form(max_length=32)],
    start: Annotated[str, Form(max_length=64)], end: Annotated[str, Form(max_length=64)],
    with_clinician_id: Annotated[str, Form(max_length=128)],
    note: Annotated[str, Form(max_length=NOTE_MAX)] = "",
) -> Response:  # fmt: skip
    body = form_body(swaps.SwapAsk, practice_id=practice_id, group_id=group_id, role=role,
                     start=start, end=end, with_clinician_id=with_clinician_id,
                     note=note)  # fmt: skip
    await swaps.ask_swap(body, services, principal)
    return see_other(f"{PREFIX}/me?swap=asked")


def _swaps_page(practice_id: str) -> str:
    return f"{PREFIX}/practices/{quote(practice_id)}/swaps"


@router.get("/practices/{practice_id}/swaps")
async def swaps_page(
    request: Request, practice_id: Identifier, services: Services, principal: Admin
) -> Response:
    practice = await practice_in_scope(services, principal, practice_id)
    found = await swaps.swap_requests(practice_id, services, principal)
    names = {c.clinician_id: c.display_name for c in practice.clinicians}
    groups = {g.group_id: g.name for g in practice.coverage_groups}
    return page(
        request, "swaps.html", principal, practice_id=practice_id, practice=practice,
        tz=practice.timezone, names=names, groups=groups, revision=practice.revision,
        pending=[r for r in found if r.status is SwapStatus.PENDING],
        decided=[r for r in found if r.status is not SwapStatus.PENDING],
    )  # fmt: skip


@router.post("/practices/{practice_id}/swaps/{request_id}/approve")
async def approve(
    practice_id: Identifier, request_id: Identifier, services: Services, principal: Admin,
    revision: Annotated[int, Form(ge=0)],
) -> Response:  # fmt: skip
    """Based on the revision the page showed: a change saved since then is a 412 page."""
    await swaps.approve_swap(practice_id, request_id, services, principal, f'"{revision}"')
    return see_other(_swaps_page(practice_id))


@router.post("/practices/{practice_id}/swaps/{request_id}/decline")
async def decline(
    practice_id: Identifier, request_id: Identifier, services: Services, principal: Admin
) -> Response:
    await swaps.decline_swap(practice_id, request_id, services, principal)
    return see_other(_swaps_page(practice_id))
