"""Clinician self-service: my shifts in every practice of mine, whether I am on call
now, my phones (see and remove), and my calendar feed link (new or revoked). All through
the app's own API routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from engine.api.deps import Principal, requires, services_of
from engine.api.routers import app as app_routes
from engine.api.routers import schedule_views
from engine.api.services import ApiServices
from engine.portal.render import PREFIX, page, see_other
from engine.schemas._base import Identifier

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Clinician = Annotated[Principal, Depends(requires("clinician"))]


async def _my_page(
    request: Request, services: ApiServices, principal: Principal, feed: str | None = None
) -> Response:
    shifts = await schedule_views.my_shifts(services, principal, days=14)
    now = await schedule_views.on_call_now(services, principal)
    devices = await app_routes.my_devices(services, principal)
    practices = [p for p in await services.run_store(services.practice_store.all)
                 if principal.may_act_for(p.practice_id)]  # fmt: skip
    zones = {p.practice_id: p.timezone for p in practices}
    return page(request, "me.html", principal, shifts=shifts, on_call=now, devices=devices,
                practices=practices, zones=zones, feed=feed)  # fmt: skip


@router.get("/me")
async def my_page(request: Request, services: Services, principal: Clinician) -> Response:
    return await _my_page(request, services, principal)


@router.post("/me/devices/{device_id}/remove")
async def remove_device(
    device_id: Identifier, services: Services, principal: Clinician
) -> Response:
    await app_routes.remove_device(device_id, services, principal)
    return see_other(f"{PREFIX}/me")


@router.post("/me/calendar-feed/{practice_id}")
async def new_feed(
    request: Request, practice_id: Identifier, services: Services, principal: Clinician
) -> Response:
    """The new link is shown once on the answer: it is a secret, kept only as a digest."""
    link = await schedule_views.new_feed(practice_id, request, services, principal)
    return await _my_page(request, services, principal, feed=link.url)


@router.post("/me/calendar-feed/{practice_id}/revoke")
async def revoke_feed(
    practice_id: Identifier, services: Services, principal: Clinician
) -> Response:
    await schedule_views.revoke_feed(practice_id, services, principal)
    return see_other(f"{PREFIX}/me")
