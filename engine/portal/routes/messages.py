"""Message history for practice administrators: the practice's dispatches with filters
(local dates, urgency, outcome) and paging, and one dispatch's timeline in plain words.
The message itself only on a "Show message" POST, through the API's content route, which
audits every view; once retention has purged it, the page says so."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from engine.api.deps import Principal, requires, services_of
from engine.api.practice_edits import practice_in_scope
from engine.api.problems import ApiProblem
from engine.api.routers import history
from engine.api.services import ApiServices
from engine.portal.render import PREFIX, page
from engine.portal.timeline_labels import label
from engine.schemas._base import Identifier

__all__ = ["local_range", "router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
Text = Annotated[str, Query(max_length=200)]
URGENCIES = ("routine", "urgent", "emergency")
STATUSES = ("pending", "sent", "delivered", "read", "accepted", "operator", "completed",
            "cancelled")  # fmt: skip


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> Any:
    if value and value not in allowed:
        raise ApiProblem(422, "Invalid request", f"'{name}' is not one of the choices.",
                         kind="validation")  # fmt: skip
    return value or None


def local_range(start: str, end: str, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """From the start of local day ``start`` to the end of local day ``end`` (both
    ``YYYY-MM-DD`` or empty), in the practice's zone: a DST day is 23 or 25 hours."""
    days: list[date | None] = []
    for name, value in (("from", start), ("to", end)):
        try:
            days.append(date.fromisoformat(value) if value else None)
        except ValueError:
            raise ApiProblem(422, "Invalid request", f"'{name}' is a date (YYYY-MM-DD).",
                             kind="validation") from None  # fmt: skip
    first, last = days

    def midnight(day: date, name: str) -> datetime:  # an instant: arithmetic on it is exact
        try:
            return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
        except OverflowError:  # the first or last day a datetime can hold, in some zones
            raise ApiProblem(422, "Invalid request", f"'{name}' is out of range.",
                             kind="validation") from None  # fmt: skip

    since = midnight(first, "from") if first else None
    if last is None:
        return since, None
    if last == date.max:
        raise ApiProblem(422, "Invalid request", "'to' is out of range.", kind="validation")
    return since, midnight(last + timedelta(days=1), "to") - timedelta(milliseconds=1)


@router.get("/practices/{practice_id}/messages")
async def message_list(
    request: Request, practice_id: Identifier, services: Services, principal: Admin,
    start: Annotated[str, Query(alias="from", max_length=10)] = "",
    end: Annotated[str, Query(alias="to", max_length=10)] = "",
    urgency: Text = "", status: Text = "", before: Text = "",
) -> Response:  # fmt: skip
    practice = await practice_in_scope(services, principal, practice_id)
    since, until = local_range(start, end, practice.zone)
    found = await history.messages(
        practice_id, services, principal, since=since, until=until,
        urgency=_choice("urgency", urgency, URGENCIES),
        status=_choice("status", status, STATUSES), before=before or None, limit=50,
    )  # fmt: skip
    filters = {"from": start, "to": end, "urgency": urgency, "status": status}
    chosen = {k: v for k, v in filters.items() if v}
    newest = "?" + urlencode(chosen)
    older = "?" + urlencode({**chosen, "before": found.next_before}) if found.next_before else None
    return page(
        request, "messages.html", principal, practice_id=practice_id, practice=practice,
        tz=practice.timezone, rows=found.messages, filters=filters, older=older, newest=newest,
        urgencies=URGENCIES, statuses=STATUSES, paged=bool(before),
    )  # fmt: skip


async def _timeline_page(
    request: Request, practice_id: str, dispatch_id: str, services: ApiServices,
    principal: Principal, **shown: Any,
) -> Response:  # fmt: skip
    practice = await practice_in_scope(services, principal, practice_id)
    detail = await history.message_timeline(practice_id, dispatch_id, services, principal)
    entries = [(e, label(e.action, e.detail, e.to_status)) for e in detail.timeline]
    return page(
        request, "message.html", principal, practice_id=practice_id, practice=practice,
        tz=practice.timezone, message=detail.message, entries=entries,
        kept=await services.vault.kept(dispatch_id),
        base=f"{PREFIX}/practices/{quote(practice_id)}/messages", **shown,
    )  # fmt: skip


@router.get("/practices/{practice_id}/messages/{dispatch_id}")
async def message_page(
    request: Request,
    practice_id: Identifier,
    dispatch_id: Identifier,
    services: Services,
    principal: Admin,
) -> Response:
    return await _timeline_page(request, practice_id, dispatch_id, services, principal)


@router.post("/practices/{practice_id}/messages/{dispatch_id}/content")
async def show_message(
    request: Request,
    practice_id: Identifier,
    dispatch_id: Identifier,
    services: Services,
    principal: Admin,
) -> Response:
    """The answer itself shows the message (no redirect: the content is never put in a
    URL or kept for a later GET); the API's content route audits the view."""
    try:
        content = await history.message_content(practice_id, dispatch_id, services, principal)
    except ApiProblem as problem:
        if problem.problem.status != 410:
            raise
        return await _timeline_page(request, practice_id, dispatch_id, services, principal,
                                    purged_now=True)  # fmt: skip
    return await _timeline_page(request, practice_id, dispatch_id, services, principal,
                                content=content)  # fmt: skip
