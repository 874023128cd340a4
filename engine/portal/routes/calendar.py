"""The on-call calendar: a month or week of one coverage group in the practice's time
zone, who is primary and backup through each day (from the API's final schedule),
overrides and gaps marked in words, days the clocks change labelled with their length,
and on every shift a "replace with..." link to the override form, prefilled."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from engine.api.deps import Principal, requires, services_of
from engine.api.practice_edits import practice_in_scope
from engine.api.problems import ApiProblem
from engine.api.routers import admin_views
from engine.api.services import ApiServices
from engine.domain.schedule_resolution import Segment, group_for
from engine.portal.calendar_grid import day_bounds, grid, shown_dates, step
from engine.portal.render import PREFIX, page
from engine.schemas._base import Identifier

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
FIRST, LAST = date(1970, 1, 1), date(2199, 12, 31)


def replace_link(
    practice_id: str, group_id: str, role: str, start: datetime, end: datetime,
    people: tuple[str, ...],
) -> str:  # fmt: skip
    """The override form, prefilled to cover this shift (for its one person, if one)."""
    query = {"group": group_id, "role": role, "start": start.isoformat(),
             "end": end.isoformat(), "back": "calendar"}  # fmt: skip
    if len(people) == 1:
        query["replace"] = people[0]
    return f"{PREFIX}/practices/{practice_id}/overrides?{urlencode(query)}#override-form"


@router.get("/practices/{practice_id}/calendar")
async def calendar(
    request: Request, practice_id: Identifier, services: Services, principal: Admin,
    view: Literal["month", "week"] = "month", group: Identifier | None = None,
    day: Annotated[date | None, Query(alias="date")] = None,
    saved: Annotated[int | None, Query(ge=1)] = None,
) -> Response:  # fmt: skip
    practice = await practice_in_scope(services, principal, practice_id)
    zone = practice.zone
    now = services.clock.now()
    if not practice.coverage_groups:
        return page(request, "calendar.html", principal, practice_id=practice_id,
                    practice=practice, chosen=None, saved=saved)  # fmt: skip
    try:
        chosen = group_for(practice, group)
    except KeyError:
        raise ApiProblem(404, "Not found", "No coverage group of this practice has that id.",
                         kind="not-found") from None  # fmt: skip
    anchor = day or now.astimezone(zone).date()
    if not FIRST <= anchor <= LAST:
        raise ApiProblem(422, "Invalid date", f"date: must be from {FIRST} to {LAST}",
                         kind="validation")  # fmt: skip
    dates = shown_dates(view, anchor)
    start, _ = day_bounds(dates[0], zone)
    rows = await admin_views.final_schedule(practice_id, services, principal, start=start,
                                            days=len(dates) + 1)  # fmt: skip
    schedule = {
        row.role: [Segment(s.start, s.end, tuple(s.clinicians)) for s in row.segments]
        for row in rows if row.group_id == chosen.group_id
    }  # fmt: skip
    overrides: dict[str, list[tuple[datetime, datetime]]] = {}
    for override in chosen.overrides:
        overrides.setdefault(override.role.value, []).append((override.start, override.end))
    return page(
        request, "calendar.html", principal, practice_id=practice_id, practice=practice,
        chosen=chosen, view=view, anchor=anchor, days=grid(dates, zone, schedule, overrides),
        previous=step(view, anchor, -1), following=step(view, anchor, 1), now=now,
        tz=practice.timezone, replace_link=replace_link, saved=saved,
        names={c.clinician_id: c.display_name for c in practice.clinicians},
    )  # fmt: skip
