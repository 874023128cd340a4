"""Users, for practice and service administrators: the accounts they manage (roles,
practices, desks, disabled, last sign-in), invite (the one-time password shown once on
the answer), set roles (and, for a service administrator, an operator's desks), disable
and enable, and a password reset by the administrator.
Every action is the API's own route in :mod:`engine.api.routers.users`, with its scope
and audit."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from engine.api.accounts import Role
from engine.api.deps import Principal, requires, services_of
from engine.api.problems import ApiProblem, FieldProblem
from engine.api.routers import users
from engine.api.services import ApiServices
from engine.portal.render import PREFIX, page, see_other
from engine.schemas._base import Identifier

__all__ = ["form_body", "router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
Model = TypeVar("Model", bound=BaseModel)
_PRACTICE_ROLES = ["practice_admin", "clinician", "billing"]


def form_body(model: type[Model], **fields: Any) -> Model:
    """A route's body from a form; a 422 page naming the fields (never their values)."""
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        named = [FieldProblem(field=".".join(str(p) for p in e["loc"]) or "(form)",
                              problem=e["type"]) for e in error.errors()]  # fmt: skip
        raise ApiProblem(422, "Invalid form", "Some fields are not valid.", kind="validation",
                         errors=named) from None  # fmt: skip


async def _choices(services: ApiServices, principal: Principal) -> dict[str, list[str]]:
    """What the forms offer; desks (the practices' and the default one) only to a
    service administrator, who alone assigns them."""
    if principal.all_practices:
        everyone = await services.run_store(services.practice_store.all)
        practices = sorted(p.practice_id for p in everyone)
        desks = {p.operator_desk for p in everyone} | {services.settings.default_operator_desk}
        return {"roles": [r.value for r in Role], "practices": practices, "desks": sorted(desks)}
    return {"roles": _PRACTICE_ROLES, "practices": sorted(principal.practices), "desks": []}


@router.get("/users")
async def users_page(request: Request, services: Services, principal: Admin) -> Response:
    accounts = sorted(await users.list_users(services, principal), key=lambda a: a.username)
    return page(request, "users.html", principal, accounts=accounts,
                choices=await _choices(services, principal))  # fmt: skip


@router.post("/users/invite")
async def invite(
    request: Request, services: Services, principal: Admin,
    username: Annotated[str, Form(max_length=128)],
    roles: Annotated[list[str], Form()], practices: Annotated[list[str], Form()],
    clinician_id: Annotated[str, Form(max_length=128)] = "",
    desks: Annotated[list[str] | None, Form()] = None,
) -> Response:  # fmt: skip
    """The answer shows the one-time password, once (it is not kept anywhere)."""
    body = form_body(users.Invite, username=username, roles=roles, practices=practices,
                     clinician_id=clinician_id.strip() or None, desks=desks or [])  # fmt: skip
    invited = await users.invite(body, services, principal)
    return page(request, "user_secret.html", principal, user=invited.user, invited=True,
                one_time_password=invited.one_time_password)  # fmt: skip


async def _account(services: ApiServices, principal: Principal, account_id: str) -> users.UserOut:
    for account in await users.list_users(services, principal):
        if account.account_id == account_id:
            return account
    raise ApiProblem(404, "Not found", "No account of yours has that id.", kind="not-found")


@router.post("/users/{account_id}/roles")
async def set_roles(
    account_id: Identifier, services: Services, principal: Admin,
    roles: Annotated[list[str], Form()], desks: Annotated[list[str] | None, Form()] = None,
    desks_shown: Annotated[bool, Form()] = False,
) -> Response:  # fmt: skip
    """``desks_shown``: the form had the desk boxes (a service administrator's), so none
    ticked means no desks; without it the account's desks are kept."""
    change = form_body(users.RoleChange, roles=roles,
                       desks=(desks or []) if desks_shown else None)  # fmt: skip
    await users.set_roles(account_id, change, services, principal)
    return see_other(f"{PREFIX}/users")


async def _disable(
    services: ApiServices, principal: Principal, account_id: str, disabled: bool
) -> Response:
    account = await _account(services, principal, account_id)
    change = form_body(users.RoleChange, roles=account.roles, disabled=disabled)
    await users.set_roles(account_id, change, services, principal)
    return see_other(f"{PREFIX}/users")


@router.post("/users/{account_id}/disable")
async def disable(account_id: Identifier, services: Services, principal: Admin) -> Response:
    """Disabling ends the account's sessions at once."""
    return await _disable(services, principal, account_id, True)


@router.post("/users/{account_id}/enable")
async def enable(account_id: Identifier, services: Services, principal: Admin) -> Response:
    return await _disable(services, principal, account_id, False)


@router.post("/users/{account_id}/password-reset")
async def reset_password(
    request: Request, account_id: Identifier, services: Services, principal: Admin
) -> Response:
    """The new one-time password is shown once, on this answer."""
    reset = await users.reset_password(account_id, services, principal)
    return page(request, "user_secret.html", principal, user=reset.user, invited=False,
                one_time_password=reset.one_time_password)  # fmt: skip
