"""Usage for billing: per practice, per day or month, what the answering service bills
for (calls, minutes, messages by channel, dispatches by urgency, pages, re-pages,
escalations, desk alerts, held messages, live transfers), as JSON or CSV. Counts only:
open to the practice's administrators and to the answering service's billing role."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from engine.api.deps import Principal, requires, services_of
from engine.api.problems import ApiProblem, problem_responses
from engine.api.services import ApiServices
from engine.api.usage_rules import COUNTERS
from engine.schemas._base import Identifier

__all__ = ["router"]

router = APIRouter(prefix="/v1/usage", tags=["usage"])
Services = Annotated[ApiServices, Depends(services_of)]
Reader = Annotated[Principal, Depends(requires("practice_admin", "service_admin", "billing"))]
_MAX_DAYS = 400


class UsageRow(BaseModel):
    period: str
    counts: dict[str, int]


class UsageReport(BaseModel):
    practice_id: str
    group: str
    rows: list[UsageRow]


@router.get(
    "/practices/{practice_id}",
    response_model=UsageReport,
    responses={200: {"content": {"text/csv": {}}}, **problem_responses(404)},
    summary="Usage of a practice",
)
async def usage(
    practice_id: Identifier,
    services: Services,
    principal: Reader,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    group: Literal["day", "month"] = "day",
    format: Literal["json", "csv"] = "json",
) -> Response | UsageReport:
    """Counts per local day (or month) from ``from`` to ``to`` inclusive (default: the
    last 30 days). ``format=csv`` gives one row per period, one column per counter."""
    if not principal.may_act_for(practice_id):
        raise ApiProblem(404, "Not found", "No practice of yours has that id.", kind="not-found")
    today = services.clock.now().date()
    last = end or today
    first = start or last - timedelta(days=29)
    if first > last or (last - first).days >= _MAX_DAYS:
        raise ApiProblem(422, "Invalid request",
                         f"'from' must not be after 'to', and at most {_MAX_DAYS} days apart.",
                         kind="validation")  # fmt: skip
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    pipe = services.redis.pipeline(transaction=False)
    for day in days:
        pipe.hgetall(services.keys.usage(practice_id, day.isoformat()))
    found = await pipe.execute()
    periods: dict[str, dict[str, int]] = {}
    for day, raw in zip(days, found, strict=True):
        period = day.isoformat() if group == "day" else day.isoformat()[:7]
        totals = periods.setdefault(period, {})
        for name, value in raw.items():
            key = name.decode() if isinstance(name, bytes) else name
            totals[key] = totals.get(key, 0) + int(value)
    rows = [UsageRow(period=p, counts=c) for p, c in periods.items()]
    if format == "csv":
        return Response(_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="usage-{practice_id}.csv"'})  # fmt: skip
    return UsageReport(practice_id=practice_id, group=group, rows=rows)


def _csv(rows: list[UsageRow]) -> str:
    channels = sorted({k for r in rows for k in r.counts if k.startswith("channel_")})
    columns = [*COUNTERS, *channels]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period", *columns])
    for row in rows:
        writer.writerow([row.period, *(row.counts.get(c, 0) for c in columns)])
    return out.getvalue()
