"""Office hours: the weekly opening hours (saved through the API's ``put_section``),
the practice's own closed days (added and removed through ``close_day`` / ``open_day``),
and the public holidays of its calendar for the coming 12 months."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from engine.api.deps import Principal, requires, services_of
from engine.api.practice_edits import practice_in_scope
from engine.api.routers import admin, admin_items
from engine.api.services import ApiServices
from engine.domain.holiday_calendars import holidays_between
from engine.domain.practice import OfficeHours
from engine.domain.weekdays import Weekday
from engine.portal.render import PREFIX, page, see_other
from engine.portal.routes.settings_forms import json_request, saved
from engine.schemas._base import Identifier

__all__ = ["hours_from_text", "hours_text", "router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]


def hours_text(hours: OfficeHours, day: Weekday) -> str:
    """A day's opening hours as its form field shows them: ``08:00-12:00, 13:00-17:00``."""
    return ", ".join(f"{r.start:%H:%M}-{r.end:%H:%M}" for r in hours.weekly.get(day, []))


def hours_from_text(text: str) -> list[dict[str, str]]:
    """The reverse of :func:`hours_text` (empty: closed that day); the times are checked
    when the section is validated."""
    ranges = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        start, separator, end = part.partition("-")
        if not separator:
            raise ValueError("write opening hours as 08:00-12:00, 13:00-17:00")
        ranges.append({"start": start.strip(), "end": end.strip()})
    return ranges


def _redirect(practice_id: str, note: str) -> Response:
    return see_other(f"{PREFIX}/practices/{practice_id}/office-hours?done={note}")


async def _page(
    request: Request, services: ApiServices, principal: Principal, practice_id: str, *,
    status_code: int = 200, problems: list[str] | None = None, where: str = "",
    done: str = "", weekly: dict[str, str] | None = None, revision: str | None = None,
) -> Response:  # fmt: skip
    """The page; ``weekly`` and ``revision``: the hours form as it was sent and the
    revision it was read at (kept, so a save after someone else's is refused)."""
    practice = await practice_in_scope(services, principal, practice_id)
    hours = practice.office_hours
    today = services.clock.now().astimezone(practice.zone).date()
    calendar = hours.public_holidays
    ahead = holidays_between(calendar, today, today + timedelta(days=365)) if calendar else []
    return page(
        request, "office_hours.html", principal, practice_id=practice_id, practice=practice,
        weekly=weekly or {d.value: hours_text(hours, d) for d in Weekday},
        days=[d.value for d in Weekday], closed=hours.closed_dates, today=today,
        calendar=calendar, holidays=ahead, problems=problems or [], where=where, done=done,
        hours_revision=revision if weekly is not None else None, status_code=status_code,
    )  # fmt: skip


@router.get("/practices/{practice_id}/office-hours")
async def office_hours(
    request: Request, practice_id: Identifier, services: Services, principal: Admin,
    done: str = "",
) -> Response:  # fmt: skip
    note = done if done in ("hours", "closed", "opened") else ""
    return await _page(request, services, principal, practice_id, done=note)


@router.post("/practices/{practice_id}/office-hours")
async def edit_hours(
    request: Request, practice_id: Identifier, services: Services, principal: Admin
) -> Response:
    form = await request.form()
    practice = await practice_in_scope(services, principal, practice_id)
    typed = {d.value: str(form.get(f"hours-{d.value}", "")) for d in Weekday}
    value: dict[str, Any] = practice.office_hours.model_dump(mode="json")
    try:
        value["weekly"] = {day: hours_from_text(text) for day, text in typed.items()
                           if text.strip()}  # fmt: skip
    except ValueError as error:
        problems = [str(error)]
    else:
        problems = await saved(admin.put_section(
            practice_id, "office_hours", json_request(value), services, principal,
            if_match=str(form.get("revision", "")),
        ))  # fmt: skip
    if problems:
        return await _page(request, services, principal, practice_id, status_code=422,
                           problems=problems, where="hours", weekly=typed,
                           revision=str(form.get("revision", "")))  # fmt: skip
    return _redirect(practice_id, "hours")


@router.post("/practices/{practice_id}/office-hours/closed")
async def add_closed_day(
    request: Request, practice_id: Identifier, services: Services, principal: Admin
) -> Response:
    form = await request.form()
    try:
        day = date.fromisoformat(str(form.get("day", "")))
    except ValueError:
        problems = ["day: choose a date"]
    else:
        problems = await saved(admin_items.close_day(
            practice_id, day, services, principal, if_match=str(form.get("revision", ""))
        ))  # fmt: skip
    if problems:
        return await _page(request, services, principal, practice_id, status_code=422,
                           problems=problems, where="closed")  # fmt: skip
    return _redirect(practice_id, "closed")


@router.post("/practices/{practice_id}/office-hours/closed/{day}/open")
async def remove_closed_day(
    request: Request, practice_id: Identifier, day: date, services: Services, principal: Admin
) -> Response:
    form = await request.form()
    problems = await saved(admin_items.open_day(
        practice_id, day, services, principal, if_match=str(form.get("revision", ""))
    ))  # fmt: skip
    if problems:
        return await _page(request, services, principal, practice_id, status_code=422,
                           problems=problems, where="closed")  # fmt: skip
    return _redirect(practice_id, "opened")
