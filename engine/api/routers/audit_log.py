"""A practice's audit log for its administrators: every audit record of the practice
(dispatch timelines, message views, schedule, account and key changes), newest first,
searchable by action, actor, subject and date, from the read model's per-practice index
(:mod:`engine.api.read_model`). Read-only: nothing here changes or deletes a record, and
the records hold codes and ids, never PHI."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

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
_SCAN_MAX = 5000
"""Records looked at per request; a sparse search answers with fewer rows and a cursor."""


class AuditRow(BaseModel):
    event_id: str
    at: datetime
    action: str
    actor: str
    subject_type: str
    subject_id: str
    from_status: str | None
    to_status: str | None
    step: int | None
    detail: str


class AuditPage(BaseModel):
    records: list[AuditRow]
    next_before: str | None = Field(
        description="Pass as ``before`` for the next (older) page; null at the end."
    )


def _cursor(before: str | None, until: datetime | None) -> tuple[int, int]:
    """(highest time in ms, records at that very ms already shown)."""
    top = int(until.timestamp() * 1000) if until else 2**62
    if before is None:
        return top, 0
    ms, _, shown = before.partition(":")
    if not plain_number(ms) or not plain_number(shown):
        raise ApiProblem(422, "Invalid request", "'before' is the next_before of a page.",
                         kind="validation")  # fmt: skip
    return min(int(ms), top), int(shown) if int(ms) <= top else 0


@router.get("/{practice_id}/audit", response_model=AuditPage, responses=problem_responses(404))
async def practice_audit(
    practice_id: Identifier, services: Services, principal: Admin,
    since: AwareDatetime | None = None, until: AwareDatetime | None = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    subject_id: Annotated[str | None, Query(max_length=128)] = None,
    before: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPage:  # fmt: skip
    """The practice's audit records, newest first (kept 400 days), each filter an exact
    match; page with ``before``. A search that finds few matches among many records
    may answer with fewer than ``limit`` rows and a ``next_before`` to look further."""
    await practice_in_scope(services, principal, practice_id)
    high, shown = _cursor(before, until)
    low = int(since.timestamp() * 1000) if since else 0
    wanted = {"action": action, "actor": actor, "subject_id": subject_id}
    found: list[AuditRow] = []
    run_ms, run_count, scanned, offset = high, shown, 0, shown
    key = services.keys.practice_audit(practice_id)
    exhausted = False
    while len(found) < limit and scanned < _SCAN_MAX:
        batch = await services.redis.zrevrangebyscore(
            key, high, low, start=offset, num=min(500, _SCAN_MAX - scanned), withscores=True
        )
        if not batch:
            exhausted = True
            break
        offset += len(batch)
        for raw, score in batch:
            scanned += 1
            ms = int(score)
            run_ms, run_count = (ms, run_count + 1) if ms == run_ms else (ms, 1)
            record = json.loads(raw)
            if all(v is None or record.get(k) == v for k, v in wanted.items()):
                found.append(AuditRow.model_validate(record))
                if len(found) == limit:
                    break
    more = not exhausted and (
        await services.redis.zcount(key, low, f"({run_ms}") > 0
        or await services.redis.zcount(key, run_ms, run_ms) > run_count
    )
    return AuditPage(records=found, next_before=f"{run_ms}:{run_count}" if more else None)
