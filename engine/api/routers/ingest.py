"""Telephony ingest: ``POST /v1/intake`` (one event) and ``POST /v1/intake/batch``
(up to 100), authenticated by an integration's API key.

The bodies are the intake topic's events (the same JSON Schema). Both routes read the
body themselves rather than through FastAPI's validation, so that an invalid event can
be answered field by field and still reach the operator desk
(:mod:`engine.api.ingest`).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from engine.api.deps import Principal, integration, services_of
from engine.api.ingest import accept_event, forward_unreadable, parse_body
from engine.api.problems import ApiProblem, Problem, problem_responses
from engine.api.services import ApiServices

__all__ = ["MAX_BATCH", "router"]

MAX_BATCH = 100

router = APIRouter(prefix="/v1/intake", tags=["ingest"])


class IntakeAccepted(BaseModel):
    """An event Nightline has durably accepted (the broker acknowledged it)."""

    event_id: uuid.UUID = Field(description="The event's id, the idempotency key.")
    dispatch_id: str = Field(
        description="The id the dispatch has when triage dispatches the message now "
        "(routine messages held for the office are not dispatched)."
    )


class IntakeItemResult(BaseModel):
    """What became of one event of a batch, in the order they were sent."""

    index: int
    status: int = Field(description="202, or the status the event would have had alone.")
    accepted: IntakeAccepted | None = None
    problem: Problem | None = None


class IntakeBatchResult(BaseModel):
    results: list[IntakeItemResult]


_EVENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IntakeEvent"}}},
    }
}
_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["events"],
                    "additionalProperties": False,
                    "properties": {
                        "events": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_BATCH,
                            "items": {"$ref": "#/components/schemas/IntakeEvent"},
                        }
                    },
                }
            }
        },
    }
}
_ERRORS = problem_responses(400, 409)

Services = Annotated[ApiServices, Depends(services_of)]
Integration = Annotated[Principal, Depends(integration)]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IntakeAccepted,
    responses=_ERRORS,
    openapi_extra=_EVENT_BODY,
    summary="Submit one call or message",
)
async def submit_event(
    request: Request, services: Services, principal: Integration
) -> IntakeAccepted:
    """Accepted (202) once Kafka has it. A retry with the same ``event_id`` and body gets
    the same answer; the same ``event_id`` with another body gets 409."""
    raw = await request.body()
    accepted = await accept_event(services, principal, await parse_body(services, raw), raw)
    return IntakeAccepted(event_id=accepted.event_id, dispatch_id=accepted.dispatch_id)


@router.post(
    "/batch",
    response_model=IntakeBatchResult,
    responses=_ERRORS,
    openapi_extra=_BATCH_BODY,
    summary="Submit up to 100 calls or messages",
)
async def submit_batch(
    request: Request, services: Services, principal: Integration
) -> IntakeBatchResult:
    """One result per event, each as if it had been sent alone: retry those whose
    status is 503, fix those with 422."""
    raw = await request.body()
    body = await parse_body(services, raw)
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH or len(body) != 1:
        await forward_unreadable(services, None, raw)  # never lost: dead letter and desk
        raise ApiProblem(
            422,
            "Invalid batch",
            f"The body must be an object with one field, 'events': 1 to {MAX_BATCH} events. "
            "The operator desk was told of it.",
            kind="validation",
        )

    async def one(index: int, data: Any) -> IntakeItemResult:
        try:
            accepted = await accept_event(services, principal, data)
        except ApiProblem as exc:
            return IntakeItemResult(index=index, status=exc.problem.status, problem=exc.problem)
        item = IntakeAccepted(event_id=accepted.event_id, dispatch_id=accepted.dispatch_id)
        return IntakeItemResult(index=index, status=202, accepted=item)

    results = await asyncio.gather(*(one(i, data) for i, data in enumerate(events)))
    return IntakeBatchResult(results=list(results))
