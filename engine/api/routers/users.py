"""People's accounts, administered over the API: invite (create with a one-time
password to change), set roles, disable and enable, reset a password, and see who
signed in when.

A practice administrator manages the accounts of their own practices and can give only
the roles of a practice (practice admin, clinician, operator, billing); a service
administrator manages every account and every role, and alone assigns an operator's
desks (at the invite or later). Disabling an account, changing its roles or desks, or
resetting its password (a new one-time password, as for an invite), ends all its
sessions at once.
Every change is audited (``account_invited``, ``account_changed``, ``password_reset``, one
entry per practice of the account).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from engine.api.accounts import TOTP_ROLES, Account, Role, UsernameTakenError
from engine.api.audit_entries import change_entries
from engine.api.deps import Principal, requires, services_of
from engine.api.ingest import unavailable
from engine.api.problems import ApiProblem, problem_responses
from engine.api.publishing import KafkaUnavailableError
from engine.api.security import hash_password
from engine.api.services import ApiServices
from engine.domain.people import people_of
from engine.schemas._base import Identifier
from engine.schemas.codec import encode

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin/users", tags=["admin"])
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
_ERRORS = problem_responses(404, 409)
_PRACTICE_ROLES = frozenset({Role.PRACTICE_ADMIN, Role.CLINICIAN, Role.BILLING})
"""What a practice administrator may give. Operators work the answering service's desks,
which serve many practices: only a service administrator creates them."""


class UserOut(BaseModel):
    account_id: str
    username: str
    roles: list[str]
    practices: list[str]
    clinician_id: str | None
    desks: list[str]
    disabled: bool
    totp: bool
    last_sign_in_at: datetime | None
    last_sign_in_from: str | None


class Invite(BaseModel):
    username: str = Field(min_length=3, max_length=128)
    roles: list[Role] = Field(min_length=1)
    practices: list[Identifier] = Field(min_length=1)
    clinician_id: Identifier | None = None
    desks: list[Identifier] = Field(default_factory=list)


class Invited(BaseModel):
    user: UserOut
    one_time_password: str = Field(
        description="Give it to the person once: it only lets them set their own password "
        "(POST /v1/auth/password), where an administrator also enrols TOTP."
    )


class RoleChange(BaseModel):
    roles: list[Role] = Field(min_length=1)
    disabled: bool | None = None
    desks: list[Identifier] | None = Field(
        default=None,
        description="The desks an operator claims alerts of (only a service administrator "
        "sets them, as at an invite); unset: kept.",
    )


def _out(a: Account) -> UserOut:
    return UserOut(
        account_id=a.account_id, username=a.username, roles=sorted(a.roles),
        practices=sorted(a.practices), clinician_id=a.clinician_id, desks=sorted(a.desks),
        disabled=a.disabled, totp=a.totp_secret is not None,
        last_sign_in_at=a.last_sign_in_at, last_sign_in_from=a.last_sign_in_from,
    )  # fmt: skip


def _manages(principal: Principal, account: Account) -> bool:
    """A service administrator manages everyone; a practice administrator only accounts
    wholly inside their practices that hold nothing but a practice's roles."""
    if principal.all_practices:
        return True
    inside = bool(account.practices) and all(principal.may_act_for(p) for p in account.practices)
    return inside and account.roles <= _PRACTICE_ROLES


def _allowed(principal: Principal, roles: set[Role], practices: set[str]) -> None:
    if principal.all_practices:
        return
    if not roles <= _PRACTICE_ROLES or not all(principal.may_act_for(p) for p in practices):
        raise ApiProblem(
            403, "Forbidden", "You can give only a practice's roles, in your practices.",
            kind="forbidden",
        )  # fmt: skip


def _may_assign_desks(principal: Principal, assigning: bool) -> None:
    if assigning and not principal.all_practices:
        raise ApiProblem(403, "Forbidden", "Only a service administrator assigns desks.",
                         kind="forbidden")  # fmt: skip


async def _audit(
    services: ApiServices, principal: Principal, account: Account, action: str, detail: str
) -> None:
    """One audit entry per practice of the changed account: who changed what, no secrets."""
    actor = principal.subject.removeprefix("account:")
    for event in change_entries("account", account.account_id, account.practices, actor,
                                action, detail, services.clock.now()):  # fmt: skip
        await services.publisher.publish(
            services.settings.topic("audit"), account.account_id, encode(event)
        )


async def _require_own_clinician(
    services: ApiServices, principal: Principal, clinician_id: str, practices: set[str]
) -> None:
    """A practice administrator ties an account only to a clinician of their practices
    who works for no practice outside their reach (else the account would receive, and
    could unregister, another practice's pages)."""
    everyone = await services.run_store(services.practice_store.all)
    works_for = {p.practice_id for p in everyone if clinician_id in people_of(p)}
    if not works_for & practices or not all(principal.may_act_for(p) for p in works_for):
        raise ApiProblem(
            403, "Forbidden",
            "That clinician is not one of your practices' alone: a service administrator "
            "creates this account.",
            kind="forbidden",
        )  # fmt: skip


async def _managed(services: ApiServices, principal: Principal, account_id: str) -> Account:
    account = await services.accounts.get(account_id)
    if account is None or not _manages(principal, account):
        raise ApiProblem(404, "Not found", "No account of yours has that id.", kind="not-found")
    return account


@router.get("", response_model=list[UserOut], responses=_ERRORS, summary="Accounts")
async def list_users(services: Services, principal: Admin) -> list[UserOut]:
    """Accounts of my practices (all, for a service administrator), with their last
    sign-in (time and address)."""
    return [_out(a) for a in await services.accounts.all() if _manages(principal, a)]


@router.post("", response_model=Invited, status_code=201, responses=_ERRORS, summary="Invite")
async def invite(body: Invite, services: Services, principal: Admin) -> Invited:
    roles, practices = set(body.roles), set(body.practices)
    _allowed(principal, roles, practices)
    if Role.CLINICIAN in roles and not body.clinician_id:
        raise ApiProblem(422, "Invalid request", "A clinician needs a clinician_id.",
                         kind="validation")  # fmt: skip
    _may_assign_desks(principal, bool(body.desks))
    if body.clinician_id and not principal.all_practices:
        await _require_own_clinician(services, principal, body.clinician_id, practices)
    password = secrets.token_urlsafe(12)
    try:
        account = await services.accounts.create(
            Account(
                account_id="", username=body.username, roles=frozenset(roles),
                practices=frozenset(practices), clinician_id=body.clinician_id,
                desks=frozenset(body.desks), password_hash=hash_password(password),
                must_change_password=True, created_at=services.clock.now(),
            )
        )  # fmt: skip
    except UsernameTakenError:
        raise ApiProblem(409, "Conflict", "That username is taken.", kind="taken") from None
    try:
        await _audit(services, principal, account, "account_invited",
                     f"roles={','.join(sorted(account.roles))}")  # fmt: skip
    except KafkaUnavailableError:
        await services.accounts.remove(account)  # no unaudited account; the retry is clean
        raise unavailable("Kafka") from None
    return Invited(user=_out(account), one_time_password=password)


@router.put("/{account_id}", response_model=UserOut, responses=_ERRORS, summary="Roles")
async def set_roles(
    account_id: Identifier, body: RoleChange, services: Services, principal: Admin
) -> UserOut:
    """Set an account's roles (and, for a service administrator, its desks), and disable
    or enable it; any of these changes ends its sessions."""
    account = await _managed(services, principal, account_id)
    roles = set(body.roles)
    _allowed(principal, roles, set(account.practices))
    _may_assign_desks(principal, body.desks is not None and set(body.desks) != account.desks)
    if roles & TOTP_ROLES and account.totp_secret is None:
        raise ApiProblem(409, "Conflict", "An administrator needs TOTP: invite a new account.",
                         kind="totp-required")  # fmt: skip
    disabled = account.disabled if body.disabled is None else body.disabled
    desks = account.desks if body.desks is None else frozenset(body.desks)
    changed = Account(**{**account.__dict__, "roles": frozenset(roles), "disabled": disabled,
                         "desks": desks})  # fmt: skip
    await _audit(services, principal, changed, "account_changed",
                 f"roles={','.join(sorted(roles))} disabled={str(disabled).lower()} "
                 f"desks={','.join(sorted(desks))}")  # fmt: skip
    await services.accounts.save(changed)  # after its audit entry: never an unaudited change
    if disabled or roles != set(account.roles) or desks != account.desks:
        await services.sessions.revoke_all(account.account_id)
    return _out(changed)


@router.post("/{account_id}/password-reset", response_model=Invited, responses=_ERRORS,
             summary="Password reset by an administrator")  # fmt: skip
async def reset_password(account_id: Identifier, services: Services, principal: Admin) -> Invited:
    """A new one-time password, like an invite's: it only lets the person set their own
    (POST /v1/auth/password; TOTP stays as enrolled). Every session of the account ends."""
    account = await _managed(services, principal, account_id)
    password = secrets.token_urlsafe(12)
    changed = Account(**{**account.__dict__, "password_hash": hash_password(password),
                         "must_change_password": True})  # fmt: skip
    await _audit(services, principal, changed, "password_reset", "must_change_password=true")
    await services.accounts.save(changed)  # after its audit entry: never an unaudited change
    await services.sessions.revoke_all(account.account_id)
    return Invited(user=_out(changed), one_time_password=password)
