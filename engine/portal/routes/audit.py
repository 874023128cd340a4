"""A practice's audit log, read-only: searchable by action, actor, subject id and local
dates, newest first, paged; through the API's own audit route."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from engine.api.deps import Principal, requires, services_of
from engine.api.practice_edits import practice_in_scope
from engine.api.routers import audit_log
from engine.api.services import ApiServices
from engine.portal.render import PREFIX, page
from engine.portal.routes.messages import local_range
from engine.portal.timeline_labels import label
from engine.schemas._base import Identifier

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
Text = Annotated[str, Query(max_length=128)]


@router.get("/practices/{practice_id}/audit")
async def audit_page(
    request: Request, practice_id: Identifier, services: Services, principal: Admin,
    start: Annotated[str, Query(alias="from", max_length=10)] = "",
    end: Annotated[str, Query(alias="to", max_length=10)] = "",
    action: Text = "", actor: Text = "", subject_id: Text = "", before: Text = "",
) -> Response:  # fmt: skip
    practice = await practice_in_scope(services, principal, practice_id)
    since, until = local_range(start, end, practice.zone)
    found = await audit_log.practice_audit(
        practice_id, services, principal, since=since, until=until,
        action=action.strip() or None, actor=actor.strip() or None,
        subject_id=subject_id.strip() or None, before=before or None, limit=50,
    )  # fmt: skip
    filters = {"from": start, "to": end, "action": action, "actor": actor,
               "subject_id": subject_id}  # fmt: skip
    chosen = {k: v for k, v in filters.items() if v}
    older = "?" + urlencode({**chosen, "before": found.next_before}) if found.next_before else None
    rows = [(r, label(r.action, r.detail, r.to_status)) for r in found.records]
    return page(
        request, "audit.html", principal, practice_id=practice_id, practice=practice,
        tz=practice.timezone, rows=rows, filters=filters, older=older,
        newest="?" + urlencode(chosen), paged=bool(before),
    )  # fmt: skip
