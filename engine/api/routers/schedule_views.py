"""A clinician's own schedule: upcoming shifts, "am I on call now", and a personal
iCalendar feed whose URL holds a revocable secret token (phone calendars cannot sign in).

Shifts come from the practices' coverage groups through the same resolution that pages
(:mod:`engine.interchange.ics_export`), so they show exactly who would be paged.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from engine.api.deps import Principal, requires, services_of
from engine.api.problems import ApiProblem, problem_responses
from engine.api.security import new_token, secret_digest
from engine.api.services import ApiServices
from engine.domain.oncall import resolve_chain
from engine.domain.practice import Practice
from engine.interchange.ics_export import clinician_feed, clinician_shifts
from engine.schemas._base import Identifier

__all__ = ["feeds", "router"]

router = APIRouter(prefix="/v1/app", tags=["app"])
feeds = APIRouter(prefix="/v1/feeds", tags=["app"])
Services = Annotated[ApiServices, Depends(services_of)]
Clinician = Annotated[Principal, Depends(requires("clinician"))]
_ERRORS = problem_responses(404)
_FEED_BACK = timedelta(days=7)
_FEED_AHEAD = timedelta(days=90)


class ShiftOut(BaseModel):
    practice_id: str
    group_id: str
    group_name: str
    role: str
    start: datetime
    end: datetime


class OnCallLevel(BaseModel):
    practice_id: str
    level: str
    position: int


class OnCallNow(BaseModel):
    on_call: bool
    levels: list[OnCallLevel]


class FeedLink(BaseModel):
    url: str
    practice_id: str


async def _my_practices(services: ApiServices, principal: Principal) -> list[Practice]:
    found = [await services.practices.get(p) for p in sorted(principal.practices)]
    return [p for p in found if p is not None]


def _clinician(principal: Principal) -> str:
    if not principal.clinician_id:
        raise ApiProblem(403, "Forbidden", "This account is not a clinician's.", kind="forbidden")
    return principal.clinician_id


@router.get("/shifts", response_model=list[ShiftOut], responses=_ERRORS, summary="My shifts")
async def my_shifts(
    services: Services,
    principal: Clinician,
    days: Annotated[int, Query(ge=1, le=90)] = 14,
) -> list[ShiftOut]:
    """My shifts from now to ``days`` ahead, in every practice of mine, earliest first."""
    me = _clinician(principal)
    now = services.clock.now()
    out = [
        ShiftOut(
            practice_id=practice.practice_id,
            group_id=group.group_id,
            group_name=group.name,
            role=role.value,
            start=segment.start,
            end=segment.end,
        )
        for practice in await _my_practices(services, principal)
        for group, role, segment in clinician_shifts(practice, me, now, now + timedelta(days=days))
    ]
    return sorted(out, key=lambda s: (s.start, s.practice_id))


@router.get("/on-call", response_model=OnCallNow, responses=_ERRORS, summary="Am I on call")
async def on_call_now(services: Services, principal: Clinician) -> OnCallNow:
    """Whether an urgent call now would page me, and at which level of which practice."""
    me = _clinician(principal)
    now = services.clock.now()
    levels = [
        OnCallLevel(practice_id=practice.practice_id, level=level.name, position=i + 1)
        for practice in await _my_practices(services, principal)
        for i, level in enumerate(resolve_chain(practice, now).levels)
        if me in level.targets
    ]
    return OnCallNow(on_call=bool(levels), levels=levels)


@router.post(
    "/calendar-feed/{practice_id}", response_model=FeedLink, responses=_ERRORS,
    summary="My calendar feed link",
)  # fmt: skip
async def new_feed(
    practice_id: Identifier, request: Request, services: Services, principal: Clinician
) -> FeedLink:
    """A new secret feed URL for my shifts at a practice; the previous one stops working."""
    me = _clinician(principal)
    if not principal.may_act_for(practice_id) or await services.practices.get(practice_id) is None:
        raise ApiProblem(404, "Not found", "No practice of yours has that id.", kind="not-found")
    account = principal.subject.removeprefix("account:")
    await _revoke(services, account, practice_id)
    token, digest = new_token()
    await services.redis.set(services.keys.calendar_feed(digest), f"{account}|{me}|{practice_id}")
    await services.redis.set(services.keys.calendar_feed_of(account, practice_id), digest)
    url = str(request.url_for("calendar_feed", token=f"{token}.ics"))
    return FeedLink(url=url, practice_id=practice_id)


@router.delete(
    "/calendar-feed/{practice_id}", status_code=204, responses=_ERRORS,
    summary="Revoke my calendar feed link",
)  # fmt: skip
async def revoke_feed(practice_id: Identifier, services: Services, principal: Clinician) -> None:
    _clinician(principal)
    if not principal.may_act_for(practice_id):
        raise ApiProblem(404, "Not found", "No practice of yours has that id.", kind="not-found")
    await _revoke(services, principal.subject.removeprefix("account:"), practice_id)


async def _revoke(services: ApiServices, account: str, practice_id: str) -> None:
    key = services.keys.calendar_feed_of(account, practice_id)
    digest = await services.redis.get(key)
    if digest is not None:
        text = digest.decode() if isinstance(digest, bytes) else digest
        await services.redis.delete(services.keys.calendar_feed(text), key)


@feeds.get(
    "/{token}",
    name="calendar_feed",
    responses={200: {"content": {"text/calendar": {}}}, **problem_responses(404)},
    summary="A personal on-call calendar (the token is the secret)",
)
async def calendar_feed(token: str, services: Services) -> Response:
    """The iCalendar feed behind a link from ``POST /v1/app/calendar-feed``: a week back
    and 90 days ahead. 404 once revoked, or for the account disabled."""
    owner = await services.redis.get(
        services.keys.calendar_feed(secret_digest(token.removesuffix(".ics")))
    )
    if owner is None:
        raise ApiProblem(404, "Not found", "No calendar feed has that link.", kind="not-found")
    account_id, clinician_id, practice_id = (
        owner.decode() if isinstance(owner, bytes) else owner
    ).split("|")
    account = await services.accounts.get(account_id)
    practice = await services.practices.get(practice_id)
    still = account is not None and (
        not account.disabled
        and "clinician" in account.roles
        and account.clinician_id == clinician_id
        and practice_id in account.practices
    )  # the link ends with the access it was made for
    if not still or practice is None:
        raise ApiProblem(404, "Not found", "No calendar feed has that link.", kind="not-found")
    now = services.clock.now()
    try:
        body = clinician_feed(practice, clinician_id, now - _FEED_BACK, now + _FEED_AHEAD, now=now)
    except KeyError:  # the clinician left the practice
        raise ApiProblem(
            404, "Not found", "No calendar feed has that link.", kind="not-found"
        ) from None
    return Response(body, media_type="text/calendar; charset=utf-8")
