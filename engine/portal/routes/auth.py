"""Signing in to the portal (password, then the TOTP code on a second step), signing
out, setting one's own password after an invite, and keeping a session alive from the
idle warning. Every step goes through the API's own sign-in and session rules
(:mod:`engine.api.sessions`): throttling, lockout, TOTP used once, idle logoff."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from engine.api.browser_sessions import BrowserCookie, cookie_header, new_portal_device
from engine.api.deps import Principal, client_address, services_of, signed_in
from engine.api.problems import ApiProblem
from engine.api.routers import auth as api_auth
from engine.api.services import ApiServices
from engine.api.sessions import PasswordChangeRequired, SignInRefused, TooManyAttempts
from engine.portal.render import PREFIX, page, see_other

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Person = Annotated[Principal, Depends(signed_in)]
_PENDING_S = 120
_REFUSED = "The username, password or code is wrong, or the account is locked."


def _safe_next(target: str | None) -> str:
    """Only a path of the portal: never another site."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return PREFIX + "/"


def _same_site(request: Request) -> None:
    """Login CSRF: a sign-in posted from another site is refused, so nobody can sign a
    clinician into an account of theirs without them noticing. Browsers say where a
    form came from (``Sec-Fetch-Site``; ``Origin``, which is ``null`` under our
    no-referrer policy); clients that send neither are not browsers."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if (site is not None and site not in ("same-origin", "none")) or (
        origin not in (None, "null") and urlsplit(origin).netloc != request.url.netloc
    ):  # the host only: behind a TLS-terminating proxy the scheme seen here is http
        raise ApiProblem(403, "Forbidden", "This form was not sent from Nightline's own page.",
                         kind="cross-site")  # fmt: skip


def _pending_key(services: ApiServices, pending: str) -> str:
    return f"{services.keys.prefix}:portal-pending:{pending}"


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(
    request: Request,
    next_page: Annotated[str | None, Query(alias="next", max_length=500)] = None,
    reason: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    note = {"idle": "You were signed out after 15 minutes without activity.",
            "out": "You are signed out."}.get(reason or "")  # fmt: skip
    return page(request, "sign_in.html", None, next=_safe_next(next_page), note=note, error=None)


async def _start_session(
    request: Request, services: ApiServices, username: str, password: str, totp: str | None,
    target: str,
) -> Response:  # fmt: skip
    device = new_portal_device()
    pair, _ = await services.sessions.sign_in(
        username, password, totp, device, client_address(request), services.clock.now()
    )
    answer = see_other(target)
    cookie = BrowserCookie(device, pair.access_token, pair.refresh_token)
    answer.headers["set-cookie"] = cookie_header(cookie.encode(), services.settings.session_max_s)
    return answer


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request, services: Services,
    username: Annotated[str, Form(max_length=128)], password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=500)] = PREFIX + "/",
) -> Response:  # fmt: skip
    _same_site(request)
    target = _safe_next(next)
    try:
        return await _start_session(request, services, username, password, None, target)
    except TooManyAttempts:
        error = "Too many attempts from this address; wait a minute."
    except PasswordChangeRequired:
        return page(request, "set_password.html", None, username=username, error=None,
                    totp_uri=None)  # fmt: skip
    except SignInRefused as refused:
        if refused.totp_required:  # the password was right: ask for the code
            pending = secrets.token_urlsafe(24)
            sealed = services.sealer.encrypt(f"{username}\n{password}".encode())
            await services.redis.set(_pending_key(services, pending), sealed, ex=_PENDING_S)
            return page(request, "totp.html", None, pending=pending, next=target, error=None)
        error = _REFUSED
    return page(request, "sign_in.html", None, next=target, note=None, error=error,
                status_code=401)  # fmt: skip


@router.post("/sign-in/code", response_class=HTMLResponse)
async def sign_in_code(
    request: Request, services: Services,
    pending: Annotated[str, Form(max_length=64)], code: Annotated[str, Form(max_length=16)],
    next: Annotated[str, Form(max_length=500)] = PREFIX + "/",
) -> Response:  # fmt: skip
    """The second step: the code, with the password kept sealed for two minutes."""
    _same_site(request)
    target = _safe_next(next)
    sealed = await services.redis.getdel(_pending_key(services, pending))
    if sealed is None:
        return page(request, "sign_in.html", None, next=target, status_code=401,
                    note=None, error="That took too long; sign in again.")  # fmt: skip
    username, _, password = services.sealer.decrypt(sealed).decode().partition("\n")
    try:
        return await _start_session(request, services, username, password, code, target)
    except TooManyAttempts:
        error = "Too many attempts from this address; wait a minute."
    except SignInRefused:
        error = _REFUSED
    return page(request, "sign_in.html", None, next=target, note=None, error=error,
                status_code=401)  # fmt: skip


@router.post("/password", response_class=HTMLResponse)
async def set_password(
    request: Request, services: Services,
    username: Annotated[str, Form(max_length=128)], password: Annotated[str, Form(max_length=256)],
    new_password: Annotated[str, Form(max_length=256)],
    totp: Annotated[str | None, Form(max_length=16)] = None,
) -> Response:  # fmt: skip
    """Set one's own password (after an invite, with the one-time password), through the
    API's own route; an invited administrator is shown their TOTP once."""
    _same_site(request)
    body = api_auth.PasswordChange(username=username, password=password,
                                   new_password=new_password, totp=totp or None)  # fmt: skip
    try:
        changed = await api_auth.change_password(body, request, services)
    except ApiProblem as problem:
        return page(request, "set_password.html", None, username=username, totp_uri=None,
                    error=problem.problem.detail, status_code=problem.problem.status)  # fmt: skip
    if changed.totp_uri:
        return page(request, "set_password.html", None, username=username,
                    totp_uri=changed.totp_uri, error=None)  # fmt: skip
    return see_other(f"{PREFIX}/sign-in?reason=out")


@router.post("/sign-out")
async def sign_out(
    services: Services, principal: Person, reason: Annotated[str, Form(max_length=10)] = "out"
) -> Response:
    assert principal.session is not None
    await services.sessions.revoke(principal.session)
    answer = see_other(f"{PREFIX}/sign-in?reason={'idle' if reason == 'idle' else 'out'}")
    answer.headers["set-cookie"] = cookie_header(None, 0)
    return answer


@router.post("/keepalive", status_code=204)
async def keep_alive(principal: Person) -> Response:
    """The idle warning's "Stay signed in": a request is a use of the session."""
    return Response(status_code=204)
