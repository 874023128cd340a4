"""Liveness and readiness of the API process.

``/healthz`` answers 200 while the process serves requests (it calls nothing).
``/readyz`` is 200 when Redis answers a PING, the Kafka producer is connected and the
cluster answers a metadata request, and the practice cache and the desk queue have read
their topics to the ends they found at start; else 503 naming the checks that failed.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from engine.api.deps import services_of
from engine.api.services import ApiServices

__all__ = ["router"]

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    checks: dict[str, bool] = {}


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Not ready: the failing checks."}},
    summary="Readiness",
)
async def readyz(services: Annotated[ApiServices, Depends(services_of)]) -> JSONResponse:
    redis_ok, kafka_ok = await asyncio.gather(_redis_answers(services), services.publisher.ping())
    checks = {
        "redis": redis_ok,
        "kafka": kafka_ok,
        "practices": services.practices.caught_up.is_set(),
        "desk": services.desk.caught_up.is_set(),
    }
    ready = all(checks.values())
    body = Health(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


async def _redis_answers(services: ApiServices) -> bool:
    try:
        async with asyncio.timeout(2.0):
            return bool(await services.redis.ping())
    except Exception:
        return False
