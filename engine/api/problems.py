"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API returns has the same shape: ``type``, ``title``, ``status`` and a
``detail`` written for the integrator. A validation error also lists each failing field
as a path (``caller.callback_number``) and a pydantic error type
(``string_pattern_mismatch``): never the value that failed, and never a piece of the
path that is not a field name of our contracts (an unknown key could be a patient's
name). Anything unexpected is a 500 whose body says nothing about the request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.failures import describe_failure
from engine.schemas.codec import HIDDEN

__all__ = [
    "PROBLEM_JSON",
    "ApiProblem",
    "FieldProblem",
    "Problem",
    "field_problems",
    "install_problem_handlers",
    "problem_response",
    "problem_responses",
]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://nightline.dev/problems/"
_WHERE = frozenset({"body", "query", "path", "header", "cookie"})


class FieldProblem(BaseModel):
    """One field that failed validation: where, and which rule (never the value)."""

    field: str = Field(description="Path of the field, e.g. caller.callback_number.")
    problem: str = Field(description="The rule that failed (a pydantic error type).")


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str = Field(default="about:blank", description="A URI naming the kind of problem.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What happened, for a human.")
    errors: list[FieldProblem] | None = Field(
        default=None, description="The fields that failed validation, if any."
    )


class ApiProblem(Exception):
    """Raise from a route to answer with a problem detail."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
        errors: list[FieldProblem] | None = None,
    ) -> None:
        super().__init__(title)
        self.problem = Problem(
            type=PROBLEM_BASE + kind if kind else "about:blank",
            title=title,
            status=status,
            detail=detail,
            errors=errors,
        )
        self.headers = dict(headers or {})


_DESCRIPTIONS = {
    400: "Bad request", 401: "Not signed in", 403: "Forbidden", 404: "Not found",
    409: "Conflict", 410: "Gone", 412: "Precondition failed", 413: "Request too large",
    422: "Invalid request", 428: "Precondition required", 429: "Too many requests",
    503: "Unavailable: retry after Retry-After seconds",
}  # fmt: skip
_ALWAYS = (400, 401, 403, 413, 422, 503)


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem details a route can answer: ``codes`` plus
    those any route can (not signed in, forbidden, too large, invalid, unavailable)."""
    return {
        code: {
            "description": _DESCRIPTIONS.get(code, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for code in sorted({*codes, *_ALWAYS})
    }


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def field_problems(
    errors: Iterable[Mapping[str, Any]], names: frozenset[str]
) -> list[FieldProblem]:
    """Each pydantic error as a field path and a type; location parts that are not field
    names of the contracts show as ``*``, list positions as ``[n]``."""
    seen: dict[tuple[str, str], None] = {}
    for error in errors:
        path = ""
        for i, part in enumerate(error.get("loc", ())):
            if i == 0 and part in _WHERE:
                continue
            if isinstance(part, int):
                path += f"[{part}]"
            else:
                path += ("." if path else "") + (part if part in names else HIDDEN)
        seen[(path or "(body)", str(error.get("type", "invalid")))] = None
    return [FieldProblem(field=f, problem=p) for f, p in list(seen)[:20]]


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error raised in ``app`` as a problem detail."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> Response:
        return _answer(request, exc.problem, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = field_problems(exc.errors(), _contract_names(app))
        fields = ", ".join(f"{e.field} ({e.problem})" for e in errors)
        detail = f"The request is not valid: {fields}." if fields else "The request is not valid."
        problem = Problem(
            type=PROBLEM_BASE + "validation",
            title="Invalid request",
            status=422,
            detail=detail,
            errors=errors,
        )
        return _answer(request, problem)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        title = _TITLES.get(exc.status_code, "Request failed")
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code < 500 else None
        headers = getattr(exc, "headers", None)
        return _answer(
            request, Problem(title=title, status=exc.status_code, detail=detail), headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s: %s", _route(request), describe_failure(exc))
        problem = Problem(
            title="Internal error",
            status=500,
            detail="Nightline could not complete the request. Nothing about it was logged "
            "beyond its route; retry, and tell the operator if it persists.",
        )
        return _answer(request, problem)


def _answer(request: Request, problem: Problem, headers: dict[str, str] | None = None) -> Response:
    """The problem as JSON, or as a page for a browser's page request (the portal sets
    ``app.state.problem_page``, which answers None for requests that are not its own)."""
    page = getattr(request.app.state, "problem_page", None)
    if page is not None:
        answer: Response | None = page(request, problem, headers)
        if answer is not None:
            return answer
    return problem_response(problem, headers)


_TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request too large",
    415: "Unsupported media type",
    429: "Too many requests",
    503: "Unavailable",
}


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


def _contract_names(app: FastAPI) -> frozenset[str]:
    return _names_of(id(app), app)


@lru_cache(maxsize=8)
def _names_of(_: int, app: FastAPI) -> frozenset[str]:
    """Every property name and discriminator value in the app's OpenAPI components."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                names.update(props)
            mapping = (node.get("discriminator") or {}).get("mapping")
            if isinstance(mapping, dict):
                names.update(mapping)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(app.openapi())
    return frozenset(names)
