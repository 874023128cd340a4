"""Message history for practice administrators: the practice's dispatches, newest first,
filtered by date, urgency and outcome, and each one's timeline (who was paged and when,
receipts, reads, accepts, declines, escalations, desk claims), from the read model
(:mod:`engine.api.read_model`): fast for a year of history, and never the message."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from engine.api.deps import Principal, requires, services_of
from engine.api.practice_edits import plain_number, practice_in_scope
from engine.api.problems import ApiProblem, problem_responses
from engine.api.services import ApiServices
from engine.schemas._base import AwareDatetime, Identifier

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin/practices", tags=["admin"])
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
_ERRORS = problem_responses(404)


class MessageRow(BaseModel):
    dispatch_id: str
    urgency: str
    status: str
    level: str
    created_at: datetime
    updated_at: datetime


class MessagePage(BaseModel):
    messages: list[MessageRow]
    next_before: str | None = Field(
        description="Pass as ``before`` for the next (older) page; null at the end."
    )


@router.get("/{practice_id}/messages", response_model=MessagePage, responses=_ERRORS)
async def messages(
    practice_id: Identifier, services: Services, principal: Admin,
    since: AwareDatetime | None = None, until: AwareDatetime | None = None,
    urgency: Literal["routine", "urgent", "emergency"] | None = None,
    status: Literal["sent", "delivered", "read", "accepted", "operator", "completed",
                    "cancelled", "pending"] | None = None,
    before: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MessagePage:  # fmt: skip
    """The practice's dispatches, newest first, filtered by date, urgency and outcome
    (its current status); page with ``before``."""
    await practice_in_scope(services, principal, practice_id)
    after: tuple[int, str] | None = None
    if before is not None:
        ms, _, member = before.partition(":")
        if not plain_number(ms) or not member:
            raise ApiProblem(422, "Invalid request", "'before' is the next_before of a page.",
                             kind="validation")  # fmt: skip
        after = (int(ms), member)
    high = min(after[0] if after else 2**62, int(until.timestamp() * 1000) if until else 2**62)
    low = int(since.timestamp() * 1000) if since else 0
    found: list[MessageRow] = []
    offset, last = 0, None
    key = services.keys.message_index(practice_id)
    while len(found) < limit:
        batch = await services.redis.zrevrangebyscore(
            key, high, low, start=offset, num=limit * 2, withscores=True
        )
        if not batch:
            last = None
            break
        offset += len(batch)
        for raw, score in batch:
            member = raw.decode() if isinstance(raw, bytes) else raw
            if after and int(score) == after[0] and member >= after[1]:
                continue  # same millisecond, already on an earlier page
            last = (int(score), member)
            row = await _row(services, member)
            if (
                row
                and (urgency is None or row.urgency == urgency)
                and (status is None or row.status == status)
            ):
                found.append(row)
                if len(found) == limit:
                    break
    more = len(found) == limit and last is not None
    return MessagePage(
        messages=found, next_before=f"{last[0]}:{last[1]}" if more and last else None
    )


async def _row(services: ApiServices, dispatch_id: str) -> MessageRow | None:
    raw = await services.redis.hgetall(services.keys.message_meta(dispatch_id))
    f = {k.decode(): v.decode() for k, v in raw.items()}
    if "created_at" not in f:
        return None
    created = datetime.fromisoformat(f["created_at"])
    return MessageRow(
        dispatch_id=dispatch_id,
        urgency=f.get("urgency", ""),
        status=f.get("status", ""),
        level=f.get("level", ""),
        created_at=created,
        updated_at=datetime.fromisoformat(f["updated_at"]) if "updated_at" in f else created,
    )


class TimelineEntry(BaseModel):
    at: datetime
    action: str
    actor: str
    from_status: str | None
    to_status: str | None
    step: int | None
    detail: str


class MessageDetail(BaseModel):
    message: MessageRow
    timeline: list[TimelineEntry]


@router.get(
    "/{practice_id}/messages/{dispatch_id}", response_model=MessageDetail, responses=_ERRORS
)
async def message_timeline(
    practice_id: Identifier, dispatch_id: Identifier, services: Services, principal: Admin
) -> MessageDetail:
    """One dispatch's timeline: paged, received, read, re-paged, escalated, accepted,
    desk claimed, callback done (who and when, never the message)."""
    await practice_in_scope(services, principal, practice_id)
    row = await _row(services, dispatch_id)
    owner = await services.redis.hget(services.keys.message_meta(dispatch_id), "practice_id")
    if row is None or owner is None or owner.decode() != practice_id:
        raise ApiProblem(404, "Not found", "No message of this practice has that id.",
                         kind="not-found")  # fmt: skip
    raw = await services.redis.lrange(services.keys.message_timeline(dispatch_id), 0, -1)
    return MessageDetail(message=row, timeline=[TimelineEntry(**json.loads(r)) for r in raw])


class MessageContent(BaseModel):
    """The message itself (PHI): shown to the practice's administrators while the
    practice's retention keeps it; every view is audited."""

    dispatch_id: str
    patient_name: str
    callback_number: str
    message: str


@router.get(
    "/{practice_id}/messages/{dispatch_id}/content",
    response_model=MessageContent,
    responses=problem_responses(404, 410),
)
async def message_content(
    practice_id: Identifier, dispatch_id: Identifier, services: Services, principal: Admin
) -> MessageContent:
    """The message of one dispatch, while it is retained (410 once purged). Audited as
    ``message_viewed`` with the viewer and no content."""
    from engine.schemas._base import new_event_id
    from engine.schemas.audit import AuditEvent
    from engine.schemas.codec import encode

    await practice_in_scope(services, principal, practice_id)
    owner = await services.redis.hget(services.keys.message_meta(dispatch_id), "practice_id")
    if owner is None or owner.decode() != practice_id:
        raise ApiProblem(404, "Not found", "No message of this practice has that id.",
                         kind="not-found")  # fmt: skip
    content = await services.vault.get(dispatch_id)
    viewer = principal.subject.removeprefix("account:")
    audit = AuditEvent(
        event_id=new_event_id(), at=services.clock.now(), practice_id=practice_id,
        subject_type="dispatch", subject_id=dispatch_id, actor=viewer,
        action="message_viewed" if content else "message_view_purged", detail="portal",
    )  # fmt: skip
    await services.publisher.publish(services.settings.topic("audit"), dispatch_id, encode(audit))
    if content is None:
        raise ApiProblem(410, "Gone", "The practice's retention has purged this message's "
                         "content; its history remains.", kind="purged")  # fmt: skip
    return MessageContent(
        dispatch_id=dispatch_id,
        patient_name=content.patient_name,
        callback_number=content.callback_number,
        message=content.message,
    )
