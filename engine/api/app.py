"""The API application: ``create_api(settings, services)``.

One FastAPI app serves every audience under ``/v1`` (one router module each, in
``engine/api/routers/``), plus ``/healthz``, ``/readyz``, ``/metrics`` and
``/openapi.json``. There is no Swagger page: it would load third-party JavaScript that
the strict CSP forbids; the committed ``docs/openapi.json`` is the reference.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import generate_latest
from pydantic import ValidationError
from redis.exceptions import RedisError

from engine import __version__
from engine.api.ingest import unavailable
from engine.api.middleware import ApiMetrics, BodyLimit, RequestMetrics, SecurityHeaders
from engine.api.problems import (
    ApiProblem,
    FieldProblem,
    Problem,
    field_problems,
    install_problem_handlers,
    problem_response,
)
from engine.api.publishing import KafkaUnavailableError
from engine.api.routers import (
    admin,
    admin_items,
    admin_views,
    audit_log,
    auth,
    desk,
    desk_calls,
    health,
    history,
    ingest,
    schedule_views,
    swaps,
    usage,
    users,
)
from engine.api.routers import app as app_routes
from engine.api.services import ApiServices, build_api_services
from engine.portal.app import install_portal
from engine.schemas.catalogue import spec
from engine.settings import Settings, load_settings

__all__ = ["OPENAPI_FILE", "create_api", "openapi_document", "render_openapi"]

OPENAPI_FILE = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
"""The committed OpenAPI document (``nightline schemas export`` rewrites it)."""

_DESCRIPTION = """\
Nightline's HTTP API: telephony ingest, the clinician app, the operator desk and
practice administration. Errors are RFC 9457 problem details
(`application/problem+json`); a validation error names each failing field and rule,
never the value.
"""


def create_api(settings: Settings, services: ApiServices) -> FastAPI:
    """The app; ``services`` start with it and stop with it (its lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(
        title="Nightline API",
        version=__version__,
        description=_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = metrics = ApiMetrics()
    install_problem_handlers(app)
    _install_outage_handlers(app)
    app.include_router(health.router)
    app.include_router(ingest.router)
    app.include_router(auth.router)
    app.include_router(desk.router)
    app.include_router(desk_calls.router)
    app.include_router(app_routes.router)
    app.include_router(schedule_views.router)
    app.include_router(schedule_views.feeds)
    app.include_router(admin.router)
    app.include_router(admin_items.router)
    app.include_router(admin_views.router)
    app.include_router(usage.router)
    app.include_router(history.router)
    app.include_router(audit_log.router)
    app.include_router(users.router)
    app.include_router(swaps.app_router)
    app.include_router(swaps.admin_router)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type="text/plain; version=0.0.4")

    install_portal(app)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    origins = [o.strip() for o in settings.api_cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "X-Api-Key", "X-Device-Id"],
        )
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(SecurityHeaders)
    return app


def _install_outage_handlers(app: FastAPI) -> None:
    """Redis or Kafka away: 503 with Retry-After, never a 500."""

    async def outage(request: Request, exc: Exception) -> JSONResponse:
        what = "Kafka" if isinstance(exc, KafkaUnavailableError) else "Redis"
        problem = unavailable(what)
        return problem_response(problem.problem, problem.headers)

    for kind in (KafkaUnavailableError, RedisError, TimeoutError):
        app.add_exception_handler(kind, outage)

    async def invalid_inside(request: Request, exc: Exception) -> JSONResponse:
        """A model built inside a route refused what the request carried: a 4xx that
        names fields, never a 500."""
        assert isinstance(exc, ValidationError)
        errors = field_problems(exc.errors(include_input=False), frozenset())
        problem = ApiProblem(422, "Invalid request", "The request is not valid.",
                             kind="validation", errors=errors)  # fmt: skip
        return problem_response(problem.problem)

    app.add_exception_handler(ValidationError, invalid_inside)


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with the event contracts the raw-body routes take."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    intake = spec("intake").adapter.json_schema(ref_template="#/components/schemas/{model}")
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(intake.pop("$defs", {}))
    schemas["IntakeEvent"] = intake
    for model in (Problem, FieldProblem):
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(found.pop("$defs", {}))
        schemas[model.__name__] = found
    app.openapi_schema = document
    return document


def render_openapi() -> str:
    """The OpenAPI document as committed (nothing is connected to build it)."""
    settings = load_settings()
    app = create_api(settings, build_api_services(settings))
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"
