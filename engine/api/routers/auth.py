"""Signing in and out: ``/v1/auth/sign-in``, ``/v1/auth/refresh``, ``/v1/auth/sign-out``,
and ``/v1/me``. The rules (throttling, lockout, TOTP, rotation) are in
:mod:`engine.api.sessions`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from engine.api.deps import Principal, client_address, services_of, signed_in
from engine.api.problems import ApiProblem, problem_responses
from engine.api.security import totp_uri, weak_password_reason
from engine.api.services import ApiServices
from engine.api.sessions import (
    PasswordChangeRequired,
    SignInRefused,
    TokenPair,
    TooManyAttempts,
)
from engine.schemas._base import Identifier

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["auth"])
Services = Annotated[ApiServices, Depends(services_of)]
_ERRORS = problem_responses(429)


class SignIn(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=256, repr=False)
    totp: str | None = Field(
        default=None, max_length=16, description="The 6-digit code, when the account has TOTP."
    )
    device_id: Identifier | None = Field(
        default=None,
        description="The app's device id: the tokens then work only with X-Device-Id set to it.",
    )


class Refresh(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=256, repr=False)


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="Seconds the access token lives.")


class Me(BaseModel):
    account: str
    roles: list[str]
    practices: list[str]
    all_practices: bool
    clinician_id: str | None
    desks: list[str]


def _tokens(pair: TokenPair) -> Tokens:
    return Tokens(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


_REFUSED = "The username, password or code is wrong, or the account is locked or disabled."


@router.post("/auth/sign-in", response_model=Tokens, responses=_ERRORS, summary="Sign in")
async def sign_in(body: SignIn, request: Request, services: Services) -> Tokens:
    """Password, then the TOTP code for accounts that have one (a 401 whose ``type`` ends
    in ``totp-required`` asks for it). Repeated failures lock the account for a while."""
    try:
        pair, _ = await services.sessions.sign_in(
            body.username,
            body.password,
            body.totp,
            body.device_id,
            client_address(request),
            services.clock.now(),
        )
    except TooManyAttempts:
        raise ApiProblem(
            429,
            "Too many requests",
            "Too many sign-in attempts from this address; wait a minute.",
            kind="throttled",
            headers={"Retry-After": "60"},
        ) from None
    except SignInRefused as refused:
        request.app.state.metrics.auth_failures.labels("password").inc()
        kind = "totp-required" if refused.totp_required else "sign-in-refused"
        raise ApiProblem(401, "Not signed in", _REFUSED, kind=kind) from None
    except PasswordChangeRequired:
        raise ApiProblem(
            403, "Forbidden", "Set your own password first: POST /v1/auth/password.",
            kind="password-change-required",
        ) from None  # fmt: skip
    return _tokens(pair)


class PasswordChange(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=256, repr=False)
    new_password: str = Field(min_length=1, max_length=256, repr=False)
    totp: str | None = Field(default=None, max_length=16)


class PasswordChanged(BaseModel):
    totp_uri: str | None = Field(
        description="For a newly invited administrator: the TOTP to scan, shown this once."
    )


@router.post(
    "/auth/password", response_model=PasswordChanged, responses=_ERRORS,
    summary="Set my password",
)  # fmt: skip
async def change_password(
    body: PasswordChange, request: Request, services: Services
) -> PasswordChanged:
    """Set your own password: after an invite (with the one-time password) or at any
    time (with the current one, and TOTP if you have it). Every session of yours ends."""
    weak = weak_password_reason(body.new_password)
    if weak:
        raise ApiProblem(422, "Invalid request", weak[0].upper() + weak[1:] + ".",
                         kind="weak-password")  # fmt: skip
    try:
        secret = await services.sessions.change_password(
            body.username, body.password, body.totp, body.new_password,
            client_address(request), services.clock.now(),
        )  # fmt: skip
    except TooManyAttempts:
        raise ApiProblem(429, "Too many requests", "Too many attempts; wait a minute.",
                         kind="throttled", headers={"Retry-After": "60"}) from None  # fmt: skip
    except SignInRefused as refused:
        kind = "totp-required" if refused.totp_required else "sign-in-refused"
        raise ApiProblem(401, "Not signed in", _REFUSED, kind=kind) from None
    return PasswordChanged(totp_uri=totp_uri(secret, body.username) if secret else None)


@router.post("/auth/refresh", response_model=Tokens, responses=_ERRORS, summary="Refresh")
async def refresh(body: Refresh, request: Request, services: Services) -> Tokens:
    """A new token pair for a refresh token, which is spent. Presenting a spent refresh
    token again ends the whole session."""
    device_id = request.headers.get("x-device-id")
    pair = await services.sessions.refresh(body.refresh_token, device_id, services.clock.now())
    if pair is None:
        raise ApiProblem(
            401, "Not signed in", "The refresh token is not valid; sign in again.",
            kind="unauthenticated",
        )  # fmt: skip
    return _tokens(pair)


@router.post(
    "/auth/sign-out",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_ERRORS,
    summary="Sign out",
)
async def sign_out(services: Services, principal: Annotated[Principal, Depends(signed_in)]) -> None:
    """Ends the session: its access and refresh tokens stop working at once."""
    assert principal.session is not None
    await services.sessions.revoke(principal.session)


@router.get("/me", response_model=Me, responses=_ERRORS, summary="Who am I")
async def me(principal: Annotated[Principal, Depends(signed_in)]) -> Me:
    return Me(
        account=principal.subject,
        roles=sorted(principal.roles),
        practices=sorted(principal.practices),
        all_practices=principal.all_practices,
        clinician_id=principal.clinician_id,
        desks=sorted(principal.desks),
    )
