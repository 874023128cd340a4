"""Usage for practice administrators and the billing role: the API's usage counts per
day (the last 30 days) or month (the last 12), as a table, a small server-side SVG bar
chart of one counter, and a link to the API's own CSV for the same range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from engine.api.deps import Principal, requires, services_of
from engine.api.practice_edits import practice_in_scope
from engine.api.problems import ApiProblem
from engine.api.routers import usage as usage_api
from engine.api.services import ApiServices
from engine.api.usage_rules import COUNTERS
from engine.portal.render import PREFIX, page
from engine.schemas._base import Identifier

__all__ = ["Bar", "bars", "router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Reader = Annotated[Principal, Depends(requires("practice_admin", "service_admin", "billing"))]
CHART_HEIGHT = 120
BAR_STEP = 16


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    height: int
    period: str
    value: int


def bars(values: list[tuple[str, int]]) -> list[Bar]:
    """One bar per period, scaled so the largest value fills the chart's height."""
    top = max((v for _, v in values), default=0) or 1
    found = []
    for i, (period, value) in enumerate(values):
        height = round(CHART_HEIGHT * value / top)
        found.append(Bar(i * BAR_STEP, CHART_HEIGHT - height, height, period, value))
    return found


def _first_day(today: date, period: str) -> date:
    if period == "day":
        return today - timedelta(days=29)
    month = today.year * 12 + today.month - 1 - 11
    return date(month // 12, month % 12 + 1, 1)


@router.get("/practices/{practice_id}/usage")
async def usage_page(
    request: Request, practice_id: Identifier, services: Services, principal: Reader,
    period: Literal["day", "month"] = "day",
    measure: Annotated[str, Query(max_length=64)] = "calls",
) -> Response:  # fmt: skip
    practice = await practice_in_scope(services, principal, practice_id)
    if measure not in COUNTERS:
        raise ApiProblem(422, "Invalid request", "'measure' is not one of the counters.",
                         kind="validation")  # fmt: skip
    today = services.clock.now().astimezone(practice.zone).date()
    first = _first_day(today, period)
    report = await usage_api.usage(
        practice_id, services, principal, start=first, end=today, group=period, format="json"
    )
    assert isinstance(report, usage_api.UsageReport)
    channels = sorted({k for r in report.rows for k in r.counts if k.startswith("channel_")})
    query = {"from": first.isoformat(), "to": today.isoformat(), "group": period}
    csv_url = f"/v1/usage/practices/{quote(practice_id)}?" + urlencode({**query, "format": "csv"})
    chart = bars([(r.period, r.counts.get(measure, 0)) for r in report.rows])
    return page(
        request, "usage.html", principal, practice_id=practice_id, practice=practice,
        period=period, measure=measure, counters=COUNTERS, columns=[*COUNTERS, *channels],
        rows=report.rows, chart=chart, chart_height=CHART_HEIGHT, bar_step=BAR_STEP,
        first=first, last=today, csv_url=csv_url,
    )  # fmt: skip
