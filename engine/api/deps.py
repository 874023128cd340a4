"""The dependencies every route takes: the services, and who is calling.

Routes never read credentials themselves. A route that needs an integration asks for
:func:`integration`; the scope of a principal (which practices it may touch) is
checked here by :meth:`Principal.require_practice`, so the rule lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from engine.api.middleware import ApiMetrics
from engine.api.problems import ApiProblem
from engine.api.services import ApiServices

__all__ = ["Principal", "integration", "metrics_of", "services_of"]

_api_key_header = APIKeyHeader(
    name="X-Api-Key",
    auto_error=False,
    description="An integration's API key (nlk_...), bound to the practices it serves.",
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``kind`` is the role, ``subject`` an id safe to audit."""

    kind: str
    subject: str
    practices: frozenset[str]

    def require_practice(self, practice_id: str) -> None:
        """403 unless this principal may act for ``practice_id`` (same answer whether or
        not the practice exists)."""
        if practice_id not in self.practices:
            raise ApiProblem(
                403,
                "Forbidden",
                "This credential is not allowed to act for that practice.",
                kind="forbidden",
            )


def services_of(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


def metrics_of(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


async def integration(
    services: Annotated[ApiServices, Depends(services_of)],
    metrics: Annotated[ApiMetrics, Depends(metrics_of)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    """The integration whose valid API key the request carries, else 401."""
    record = None
    if api_key:
        record = await services.api_keys.authenticate(api_key, services.clock.now())
    if record is None:
        metrics.auth_failures.labels("api_key").inc()
        raise ApiProblem(
            401,
            "Not signed in",
            "Send a valid, unexpired API key in the X-Api-Key header.",
            kind="unauthenticated",
            headers={"WWW-Authenticate": 'ApiKey header="X-Api-Key"'},
        )
    return Principal("integration", f"key:{record.key_id}", record.practices)
