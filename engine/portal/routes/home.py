"""The landing page (where each role starts) and a practice's home: who is on call now
for each coverage group and the next handoffs, a banner for any gap in primary coverage
in the next 14 days, and today's dispatches by status."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from engine.api.deps import Principal, requires, services_of, signed_in
from engine.api.practice_edits import practice_in_scope
from engine.api.routers import admin_views, history
from engine.api.services import ApiServices
from engine.domain.schedule import CoverageRole
from engine.portal.render import PREFIX, page, see_other
from engine.schemas._base import Identifier

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Person = Annotated[Principal, Depends(signed_in)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]


@router.get("/")
async def landing(request: Request, services: Services, principal: Person) -> Response:
    """Administrators go to their practice (or choose one), clinicians to their shifts,
    operators to the desk."""
    roles = principal.roles
    if roles & {"practice_admin", "service_admin", "billing"}:
        if principal.all_practices:
            practices = sorted(p.practice_id for p in
                               await services.run_store(services.practice_store.all))  # fmt: skip
        else:
            practices = sorted(principal.practices)
        if len(practices) == 1:
            start = "" if roles & {"practice_admin", "service_admin"} else "/usage"
            return see_other(f"{PREFIX}/practices/{quote(practices[0])}{start}")
        return page(request, "choose_practice.html", principal, practices=practices)
    if principal.clinician_id:
        return see_other(f"{PREFIX}/me")
    if "operator" in roles:
        return see_other(f"{PREFIX}/desk")
    return page(request, "nothing_here.html", principal)


@router.get("/practices/{practice_id}")
async def practice_home(
    request: Request, practice_id: Identifier, services: Services, principal: Admin
) -> Response:
    practice = await practice_in_scope(services, principal, practice_id)
    now = services.clock.now()
    who = await admin_views.who_is_on_call(practice_id, services, principal, at=now)
    gaps = await admin_views.gaps(practice_id, services, principal, days=14)
    schedule = await admin_views.final_schedule(practice_id, services, principal, start=now,
                                                days=3)  # fmt: skip
    handoffs = {
        g.group_id: [s for s in g.segments if s.start > now][:3]
        for g in schedule if g.role == CoverageRole.PRIMARY.value
    }  # fmt: skip
    zone = practice.zone
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    today = await history.messages(
        practice_id, services, principal, since=midnight, until=None, urgency=None,
        status=None, before=None, limit=200,
    )  # fmt: skip
    by_status = Counter(m.status for m in today.messages)
    names = {c.clinician_id: c.display_name for c in practice.clinicians}
    return page(
        request, "home.html", principal, practice_id=practice_id, practice=practice, who=who,
        gaps=gaps, handoffs=handoffs, names=names, today=today.messages, by_status=by_status,
        now=now, tz=practice.timezone, since=midnight + timedelta(0),
    )  # fmt: skip
