"""Escalation policies: per urgency, its levels (who, how long each page waits for an
acceptance, how many re-pages), edited through the API's ``put_policy``, and plainly how
long the whole chain pages before the operator desk is alerted (from the plan a dispatch
would freeze, :attr:`EscalationPlan.seconds_before_desk`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from engine.api.deps import Principal, requires, services_of
from engine.api.practice_edits import plain_number, practice_in_scope
from engine.api.routers import admin_items
from engine.api.services import ApiServices
from engine.domain.escalation import dispatch_plan
from engine.domain.schedule import LevelTarget, SchedulePolicy
from engine.portal.render import PREFIX, page, see_other
from engine.portal.routes.settings_forms import form_problems, saved
from engine.schemas._base import Identifier
from engine.schemas.intake import Urgency

__all__ = ["router", "target_from_text", "target_text"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
MOST_URGENT_FIRST = sorted(Urgency, key=lambda u: -u.rank)
TARGET_HELP = "primary of GROUP, backup of GROUP, clinician ID, group GROUP, or desk"
MOST_LEVELS = 20


def target_text(target: LevelTarget) -> str:
    """A target as one line of the form: ``primary of peds``, ``clinician dr-a``,
    ``group peds``, ``desk`` (no group: the practice's default group)."""
    if target.kind == "role" and target.role is not None:
        return target.role.value + (f" of {target.group_id}" if target.group_id else "")
    if target.kind == "clinician":
        return f"clinician {target.clinician_id}"
    if target.kind == "group":
        return "group" + (f" {target.group_id}" if target.group_id else "")
    return "desk"


def target_from_text(line: str) -> LevelTarget:
    """The reverse of :func:`target_text`; ``ValueError`` shows how to write one."""
    words = line.split()
    match words:
        case [("primary" | "backup") as role]:
            return LevelTarget(kind="role", role=role)
        case [("primary" | "backup") as role, "of", group]:
            return LevelTarget(kind="role", role=role, group_id=group)
        case ["clinician", clinician]:
            return LevelTarget(kind="clinician", clinician_id=clinician)
        case ["group"]:
            return LevelTarget(kind="group")
        case ["group", group]:
            return LevelTarget(kind="group", group_id=group)
        case ["desk"]:
            return LevelTarget(kind="operator")
    raise ValueError(f"a target is one of: {TARGET_HELP}")


def _levels_from_form(form: Any) -> list[dict[str, Any]]:
    """The levels the form describes (its ``count`` rows, the last one blank for a new
    level); ``ValueError`` when there are more rows than a policy may have."""
    count = str(form.get("count", "0") or "0")
    if not plain_number(count, 3) or int(count) > MOST_LEVELS + 1:
        raise ValueError(f"count: a policy has at most {MOST_LEVELS} levels")
    levels = []
    for n in range(int(count)):
        targets = [t for t in str(form.get(f"targets-{n}", "")).splitlines() if t.strip()]
        if not targets or form.get(f"remove-{n}"):
            continue
        levels.append({
            "name": str(form.get(f"name-{n}", "")).strip(),
            "targets": [target_from_text(t) for t in targets],
            "ack_timeout_seconds": form.get(f"timeout-{n}", ""),
            "repeats": form.get(f"repeats-{n}", "") or 0,
        })  # fmt: skip
    return levels


async def _page(
    request: Request, services: ApiServices, principal: Principal, practice_id: str, *,
    status_code: int = 200, editing: str | None = None, problems: list[str] | None = None,
    done: str | None = None,
) -> Response:  # fmt: skip
    practice = await practice_in_scope(services, principal, practice_id)
    now = services.clock.now()
    chains = {u.value: dispatch_plan(practice, u, None, now).seconds_before_desk
              for u in Urgency}  # fmt: skip
    borrowed = {u.value: found[0] for u in Urgency
                if (found := practice.schedule_policy_for(u)) is not None}  # fmt: skip
    return page(
        request, "escalation.html", principal, practice_id=practice_id, practice=practice,
        urgencies=[u.value for u in MOST_URGENT_FIRST], policies=practice.escalation_policies,
        borrowed=borrowed, chains=chains, target_text=target_text, target_help=TARGET_HELP,
        editing=editing, problems=problems or [], done=done, status_code=status_code,
    )  # fmt: skip


@router.get("/practices/{practice_id}/escalation")
async def escalation(
    request: Request, practice_id: Identifier, services: Services, principal: Admin,
    saved_policy: Urgency | None = None,
) -> Response:  # fmt: skip
    done = saved_policy.value if saved_policy else None
    return await _page(request, services, principal, practice_id, done=done)


@router.post("/practices/{practice_id}/escalation/{urgency}")
async def edit_policy(
    request: Request, practice_id: Identifier, urgency: Urgency, services: Services,
    principal: Admin,
) -> Response:  # fmt: skip
    """Saves the urgency's levels at the revision the form was read at; the policy's
    other settings (stop on, read grace) are kept."""
    form = await request.form()
    practice = await practice_in_scope(services, principal, practice_id)
    kept = practice.escalation_policies.get(urgency)
    try:
        policy = SchedulePolicy.model_validate({
            **(kept.model_dump(exclude={"levels"}) if kept else {}),
            "levels": _levels_from_form(form),
        })  # fmt: skip
    except ValidationError as error:
        problems = form_problems(error)
    except ValueError as error:
        problems = [str(error)]
    else:
        problems = await saved(admin_items.put_policy(
            practice_id, urgency, policy, services, principal,
            if_match=str(form.get("revision", "")),
        ))  # fmt: skip
    if problems:
        return await _page(request, services, principal, practice_id, status_code=422,
                           editing=urgency.value, problems=problems)  # fmt: skip
    return see_other(f"{PREFIX}/practices/{practice_id}/escalation?saved_policy={urgency.value}")
