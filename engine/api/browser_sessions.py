"""Sessions held by a browser: the portal's cookie, with the same sessions, scoping and
audit as a bearer token (:func:`engine.api.deps.signed_in` accepts either).

The cookie (``__Host-nightline``: ``Secure``, ``HttpOnly``, ``SameSite=Strict``, path
``/``) holds the portal device id and the session's access and refresh tokens. When
the access token has expired but the session is still live (used within the idle
limit), the refresh token is spent for a new pair and the cookie is renewed on the
response (:class:`CookieRenewal`); requests racing with the same expired cookie share
that one renewal. The idle and absolute limits are the API's.

A browser sends cookies by itself, so every unsafe request authenticated by the cookie
must also carry the session's CSRF token, in the ``X-CSRF-Token`` header or a
``csrf_token`` form field: an HMAC of the session id, which never leaves the server,
so only pages this session was served can hold it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from engine.api.security import secret_digest
from engine.api.sessions import Session, TokenPair

__all__ = [
    "COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "BrowserCookie",
    "CookieRenewal",
    "CsrfRefused",
    "cookie_header",
    "cookie_session",
    "csrf_token",
    "new_portal_device",
]

COOKIE = "__Host-nightline"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class BrowserCookie:
    device_id: str
    access_token: str
    refresh_token: str

    def encode(self) -> str:
        return f"{self.device_id}.{self.access_token}.{self.refresh_token}"

    @classmethod
    def decode(cls, value: str) -> BrowserCookie | None:
        parts = value.split(".")
        if len(parts) != 3 or not all(0 < len(p) <= 128 for p in parts):
            return None
        return cls(*parts)


def new_portal_device() -> str:
    """A device id for one browser sign-in: the tokens work only with it."""
    return "portal-" + secrets.token_hex(8)


def csrf_token(session_family: str) -> str:
    return hmac.new(session_family.encode(), b"nightline-csrf", hashlib.sha256).hexdigest()


def cookie_header(value: str | None, max_age_s: int) -> str:
    """The ``Set-Cookie`` value; ``None`` clears the cookie."""
    if value is None:
        return f"{COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict"
    return f"{COOKIE}={value}; Max-Age={max_age_s}; Path=/; Secure; HttpOnly; SameSite=Strict"


async def cookie_session(request: Request, services: Any) -> Session | None:
    """The live session of the request's cookie (renewing its tokens when the access
    token has expired), else None. Unsafe methods need the CSRF token as well."""
    cookie = BrowserCookie.decode(request.cookies.get(COOKIE, ""))
    if cookie is None:
        return None
    now = services.clock.now()
    session: Session | None = await services.sessions.authenticate(
        cookie.access_token, cookie.device_id, now
    )
    if session is None:
        session = await _renewed(request, services, cookie, now)
    if session is not None and request.method in _UNSAFE:
        await _require_csrf(request, session.family)
    return session


async def _renewed(
    request: Request, services: Any, cookie: BrowserCookie, now: Any
) -> Session | None:
    """Spend the refresh token once for a new pair, and set the renewed cookie.

    A browser often sends several requests with the same expired cookie (two tabs, a
    double click, a stream reconnecting). Spending a refresh token twice ends the whole
    session, so the first request spends it under a short lock and keeps the new cookie
    sealed for :data:`_RENEWED_S`; the others wait for it and use the same pair."""
    digest = secret_digest(cookie.refresh_token)
    prefix = services.keys.prefix
    kept, lock = f"{prefix}:portal-renewed:{digest}", f"{prefix}:portal-renewing:{digest}"
    renewed = None
    for _ in range(30):
        sealed = await services.redis.get(kept)
        if sealed is not None:
            renewed = BrowserCookie.decode(services.sealer.decrypt(sealed).decode())
            break
        if await services.redis.set(lock, "1", nx=True, ex=10):
            pair: TokenPair | None = await services.sessions.refresh(
                cookie.refresh_token, cookie.device_id, now
            )
            if pair is None:
                return None
            renewed = BrowserCookie(cookie.device_id, pair.access_token, pair.refresh_token)
            await services.redis.set(
                kept, services.sealer.encrypt(renewed.encode().encode()), ex=_RENEWED_S
            )
            break
        await asyncio.sleep(0.1)  # another request is renewing this cookie
    if renewed is None:
        return None
    session: Session | None = await services.sessions.authenticate(
        renewed.access_token, cookie.device_id, now
    )
    request.state.renew_cookie = cookie_header(renewed.encode(), services.settings.session_max_s)
    return session


_RENEWED_S = 30


class CsrfRefused(Exception):
    """An unsafe request by cookie without this session's CSRF token."""


async def _require_csrf(request: Request, family: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and "form" in request.headers.get("content-type", ""):
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent or not hmac.compare_digest(sent, csrf_token(family)):
        raise CsrfRefused()


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]


class CookieRenewal:
    """Sets the renewed cookie on the response of a request whose tokens were renewed."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def renewing(message: Message) -> None:
            if message["type"] == "http.response.start":
                renew = scope.get("state", {}).get("renew_cookie")
                if renew:
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"], (b"set-cookie", renew.encode())]
            await send(message)

        await self.app(scope, receive, renewing)
