"""The dependencies every route takes: the services, and who is calling.

Routes never read credentials themselves. A route that needs an integration asks for
:func:`integration`; the scope of a principal (which practices it may touch) is
checked here by :meth:`Principal.require_practice`, so the rule lives in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from engine.api.browser_sessions import COOKIE, CsrfRefused, cookie_session
from engine.api.middleware import ApiMetrics
from engine.api.problems import ApiProblem
from engine.api.services import ApiServices

__all__ = [
    "Principal",
    "client_address",
    "integration",
    "metrics_of",
    "requires",
    "services_of",
    "signed_in",
]

_bearer = HTTPBearer(auto_error=False, description="An access token from /v1/auth/sign-in.")
_api_key_header = APIKeyHeader(
    name="X-Api-Key",
    auto_error=False,
    description="An integration's API key (nlk_...), bound to the practices it serves.",
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: an integration (``kind`` "integration") or a person ("account");
    ``subject`` is an id safe to audit (``key:<id>``, ``account:<id>``)."""

    kind: str
    subject: str
    practices: frozenset[str]
    roles: frozenset[str] = frozenset()
    all_practices: bool = False
    clinician_id: str | None = None
    desks: frozenset[str] = frozenset()
    session: str | None = None
    device_id: str | None = None

    def may_act_for(self, practice_id: str) -> bool:
        return self.all_practices or practice_id in self.practices

    def require_practice(self, practice_id: str) -> None:
        """403 unless this principal may act for ``practice_id`` (same answer whether or
        not the practice exists)."""
        if not self.may_act_for(practice_id):
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
    request: Request,
    services: Annotated[ApiServices, Depends(services_of)],
    metrics: Annotated[ApiMetrics, Depends(metrics_of)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    """The integration whose valid API key the request carries, else 401 (403 for a
    person's token: ingest is for integrations)."""
    if not api_key and "authorization" in request.headers:
        raise ApiProblem(
            403,
            "Forbidden",
            "This route takes an integration's API key (X-Api-Key), not a person's token.",
            kind="forbidden",
        )
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


def client_address(request: Request) -> str:
    """The caller's address (uvicorn applies X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else "unknown"


async def signed_in(
    request: Request,
    services: Annotated[ApiServices, Depends(services_of)],
    metrics: Annotated[ApiMetrics, Depends(metrics_of)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_api_key: Annotated[str | None, Header(alias="X-Api-Key", include_in_schema=False)] = None,
    x_device_id: Annotated[
        str | None,
        Header(
            alias="X-Device-Id",
            max_length=128,
            description="The device the session signed in from (required for app sessions).",
        ),
    ] = None,
) -> Principal:
    """The person whose live access token the request carries (or, from a browser, the
    portal's cookie: :mod:`engine.api.browser_sessions`), else 401 (403 for an
    integration's API key, which opens the ingest only, and for a cookie without its
    CSRF token on an unsafe request)."""
    if credentials is None and api_key_present(x_api_key):
        raise ApiProblem(
            403,
            "Forbidden",
            "An integration's API key opens the ingest only; sign in as a person.",
            kind="forbidden",
        )
    session = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        session = await services.sessions.authenticate(
            credentials.credentials, x_device_id, services.clock.now()
        )
    elif credentials is None and COOKIE in request.cookies:
        try:
            session = await cookie_session(request, services)
        except CsrfRefused:
            raise ApiProblem(
                403, "Forbidden",
                "This form or request is missing its CSRF token: reload the page and retry.",
                kind="csrf",
            ) from None  # fmt: skip
    if session is None:
        metrics.auth_failures.labels("token").inc()
        raise ApiProblem(
            401,
            "Not signed in",
            "Sign in again: the access token is missing, expired or revoked, the session "
            "was idle too long, or it belongs to another device.",
            kind="unauthenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    account = session.account
    return Principal(
        kind="account",
        subject=f"account:{account.account_id}",
        practices=account.practices,
        roles=frozenset(str(r) for r in account.roles),
        all_practices="service_admin" in account.roles,
        clinician_id=account.clinician_id,
        desks=account.desks,
        session=session.family,
        device_id=session.device_id,
    )


def requires(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency: the signed-in person, who must hold one of ``roles`` (else 403)."""

    async def dependency(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
        if not principal.roles & set(roles):
            raise ApiProblem(403, "Forbidden", "Your role does not allow this.", kind="forbidden")
        return principal

    return dependency


def api_key_present(value: str | None) -> bool:
    return bool(value and value.strip())
