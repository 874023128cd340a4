"""Practice administration one item at a time: a clinician (with the practices they
belong to), a coverage group, one layer (rotation) of a group, one override, the
escalation policy of one urgency, one closed day; and the everyday "Dr. Lee covers for
Dr. Ash from ... to ..." as one call.

``PUT`` creates (201) or replaces (200) the item named by the URL, keeping its place in
its list (later layers win, so order matters); ``DELETE`` removes it. Every change is
validated with the whole practice like a practice file, so removing a clinician who is
still in a rotation is a 422 that says where. All need ``If-Match``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from engine.api.deps import Principal
from engine.api.practice_edits import (
    IfMatch,
    expected_revision,
    invalid,
    not_found,
    practice_in_scope,
    save,
    validated,
    validated_document,
)
from engine.api.problems import problem_responses
from engine.api.routers.admin import Admin, Services
from engine.api.services import ApiServices
from engine.domain.schedule import (
    Clinician,
    CoverageGroup,
    CoverageRole,
    Layer,
    Override,
    OverrideKind,
    SchedulePolicy,
)
from engine.domain.schedule_resolution import group_for, render
from engine.schemas._base import AwareDatetime, Identifier
from engine.schemas.intake import Urgency

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin/practices", tags=["admin"])
_ERRORS = problem_responses(404, 412, 428)
Document = dict[str, Any]


def put_item(items: list[Document], key: str, item: Document) -> bool:
    """Replace the item with the same ``key`` in place, or append it; True if new."""
    for index, existing in enumerate(items):
        if existing.get(key) == item[key]:
            items[index] = item
            return False
    items.append(item)
    return True


def drop_item(items: list[Document], key: str, item_id: str, what: str) -> None:
    """Remove the item with that id, or 404."""
    kept = [i for i in items if i.get(key) != item_id]
    if len(kept) == len(items):
        raise not_found(what)
    items[:] = kept


def group_in(document: Document, group_id: str) -> Document:
    for group in document["coverage_groups"]:
        if group["group_id"] == group_id:
            return group
    raise not_found("coverage group")


async def _change(
    services: ApiServices, principal: Principal, practice_id: str, if_match: str | None,
    edit: Callable[[Document], bool | None], where: str, same_id: tuple[str, str] = ("", ""),
) -> JSONResponse:  # fmt: skip
    """Apply ``edit`` to the practice's JSON form (it returns True when it created an
    item), validate the result like a file, and save it. ``same_id`` is the URL's id and
    the body's, checked once the practice is known to be the caller's."""
    current = await practice_in_scope(services, principal, practice_id)
    expected = expected_revision(if_match)
    if same_id[0] != same_id[1]:
        raise invalid([(where.removesuffix("s") + "_id", "must be the id of the URL")])
    document = current.model_dump(mode="json", exclude={"revision"})
    created = edit(document)
    changed = validated_document(document, where)
    return await save(services, principal, changed, expected, 201 if created else 200)


@router.put("/{practice_id}/clinicians/{clinician_id}", responses=_ERRORS,
            summary="Add or change a clinician")  # fmt: skip
async def put_clinician(
    practice_id: Identifier, clinician_id: Identifier, body: Clinician, services: Services,
    principal: Admin, if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """A clinician: name, role and the practices they belong to."""
    item = body.model_dump(mode="json")
    return await _change(services, principal, practice_id, if_match,
                         lambda d: put_item(d["clinicians"], "clinician_id", item),
                         "clinicians", (clinician_id, body.clinician_id))  # fmt: skip


@router.delete("/{practice_id}/clinicians/{clinician_id}", responses=_ERRORS,
               summary="Remove a clinician")  # fmt: skip
async def delete_clinician(
    practice_id: Identifier, clinician_id: Identifier, services: Services, principal: Admin,
    if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """Refused (422, saying where) while a rotation, override or policy still names them."""
    return await _change(
        services, principal, practice_id, if_match,
        lambda d: drop_item(d["clinicians"], "clinician_id", clinician_id, "clinician"),
        "clinicians",
    )  # fmt: skip


@router.put("/{practice_id}/groups/{group_id}", responses=_ERRORS,
            summary="Add or replace a coverage group")  # fmt: skip
async def put_group(
    practice_id: Identifier, group_id: Identifier, body: CoverageGroup, services: Services,
    principal: Admin, if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """A coverage group with its layers and overrides."""
    item = body.model_dump(mode="json")
    return await _change(services, principal, practice_id, if_match,
                         lambda d: put_item(d["coverage_groups"], "group_id", item),
                         "groups", (group_id, body.group_id))  # fmt: skip


@router.delete("/{practice_id}/groups/{group_id}", responses=_ERRORS,
               summary="Remove a coverage group")  # fmt: skip
async def delete_group(
    practice_id: Identifier, group_id: Identifier, services: Services, principal: Admin,
    if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    return await _change(
        services, principal, practice_id, if_match,
        lambda d: drop_item(d["coverage_groups"], "group_id", group_id, "coverage group"),
        "coverage_groups",
    )  # fmt: skip


@router.put("/{practice_id}/groups/{group_id}/layers/{layer_id}", responses=_ERRORS,
            summary="Add or change a rotation layer")  # fmt: skip
async def put_layer(
    practice_id: Identifier, group_id: Identifier, layer_id: Identifier, body: Layer,
    services: Services, principal: Admin, if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """Participants in order, shift length and unit, handoff time, dates and restrictions.
    A new layer goes last, so it wins over the earlier ones."""
    item = body.model_dump(mode="json")
    return await _change(services, principal, practice_id, if_match,
                         lambda d: put_item(group_in(d, group_id)["layers"], "layer_id", item),
                         "layers", (layer_id, body.layer_id))  # fmt: skip


@router.delete("/{practice_id}/groups/{group_id}/layers/{layer_id}", responses=_ERRORS,
               summary="Remove a rotation layer")  # fmt: skip
async def delete_layer(
    practice_id: Identifier, group_id: Identifier, layer_id: Identifier, services: Services,
    principal: Admin, if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    return await _change(
        services, principal, practice_id, if_match,
        lambda d: drop_item(group_in(d, group_id)["layers"], "layer_id", layer_id, "layer"),
        "layers",
    )  # fmt: skip


class NewOverride(BaseModel):
    """An override of one coverage group: who (``clinician_id``), how (``kind``: replace,
    add or remove), which role, and when."""

    clinician_id: Identifier
    start: AwareDatetime
    end: AwareDatetime
    kind: OverrideKind = OverrideKind.REPLACE
    role: CoverageRole = CoverageRole.PRIMARY
    note: str = Field(default="", max_length=300)


def _override(override_id: str, body: NewOverride) -> Document:
    if body.end <= body.start:
        raise invalid([("end", "must be after start")])
    return Override(override_id=override_id, **body.model_dump()).model_dump(mode="json")


def _override_path(practice_id: str, group_id: str, override_id: str) -> str:
    return f"/v1/admin/practices/{practice_id}/groups/{group_id}/overrides/{override_id}"


@router.post("/{practice_id}/groups/{group_id}/overrides", responses=_ERRORS,
             status_code=201, summary="Add an override")  # fmt: skip
async def add_override(
    practice_id: Identifier, group_id: Identifier, body: NewOverride, services: Services,
    principal: Admin, if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    item = _override(f"ovr-{secrets.token_hex(4)}", body)
    answer = await _change(services, principal, practice_id, if_match,
                           lambda d: put_item(group_in(d, group_id)["overrides"],
                                              "override_id", item),
                           "overrides")  # fmt: skip
    answer.headers["Location"] = _override_path(practice_id, group_id, item["override_id"])
    return answer


@router.put("/{practice_id}/groups/{group_id}/overrides/{override_id}", responses=_ERRORS,
            summary="Change an override")  # fmt: skip
async def edit_override(
    practice_id: Identifier, group_id: Identifier, override_id: Identifier,
    body: NewOverride, services: Services, principal: Admin, if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """A new who, how or when for an override that exists."""
    item = _override(override_id, body)

    def edit(document: Document) -> bool:
        overrides = group_in(document, group_id)["overrides"]
        if all(o["override_id"] != override_id for o in overrides):
            raise not_found("override")
        return put_item(overrides, "override_id", item)

    return await _change(services, principal, practice_id, if_match, edit, "overrides")


@router.delete("/{practice_id}/groups/{group_id}/overrides/{override_id}", responses=_ERRORS,
               summary="Remove an override")  # fmt: skip
async def remove_override(
    practice_id: Identifier, group_id: Identifier, override_id: Identifier,
    services: Services, principal: Admin, if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    return await _change(
        services, principal, practice_id, if_match,
        lambda d: drop_item(group_in(d, group_id)["overrides"], "override_id", override_id,
                            "override"),
        "overrides",
    )  # fmt: skip


class ReplaceOnCall(BaseModel):
    """``by`` covers instead of whoever is on call (``replace`` says who that is)."""

    replace: Identifier = Field(description="Who is on call now and is being replaced.")
    by: Identifier = Field(description="Who covers instead.")
    start: AwareDatetime
    end: AwareDatetime
    role: CoverageRole = CoverageRole.PRIMARY
    group_id: Identifier | None = None
    note: str = Field(default="", max_length=300)


@router.post("/{practice_id}/overrides/replace", responses=_ERRORS, status_code=201,
             summary="X covered by Y")  # fmt: skip
async def replace_on_call(
    practice_id: Identifier, body: ReplaceOnCall, services: Services, principal: Admin,
    if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """The everyday change ("I'm sick, Dr. Lee covers tonight") as one call: an override
    of the coverage group, validated and saved like any other write."""
    practice = await practice_in_scope(services, principal, practice_id)
    expected = expected_revision(if_match)
    if body.end <= body.start:
        raise invalid([("end", "must be after start")])
    try:
        group = group_for(practice, body.group_id)
    except KeyError:
        raise invalid([("group_id", "no such coverage group")]) from None
    held = render(group, body.role, body.start, body.end, practice.zone)
    if not any(body.replace in segment.clinicians for segment in held):
        raise invalid([("replace", f"{body.replace} is not {body.role.value} in that time")])
    override = Override(
        override_id=f"replace-{secrets.token_hex(4)}", role=body.role, kind=OverrideKind.REPLACE,
        clinician_id=body.by, start=body.start, end=body.end,
        note=body.note or f"covers for {body.replace}",
    )  # fmt: skip
    groups = [
        g.model_copy(update={"overrides": [*g.overrides, override]}) if g is group else g
        for g in practice.coverage_groups
    ]
    changed = validated(practice.model_copy(update={"coverage_groups": groups}))
    answer = await save(services, principal, changed, expected, 201)
    answer.headers["Location"] = _override_path(practice_id, group.group_id, override.override_id)
    return answer


@router.put("/{practice_id}/escalation-policies/{urgency}", responses=_ERRORS,
            summary="Set the escalation of an urgency")  # fmt: skip
async def put_policy(
    practice_id: Identifier, urgency: Urgency, body: SchedulePolicy, services: Services,
    principal: Admin, if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """The levels (targets, acknowledgement timeout, repeats) for one urgency; the
    operator desk always follows the last level."""
    item = body.model_dump(mode="json")

    def edit(document: Document) -> bool:
        policies = document["escalation_policies"]
        created = urgency.value not in policies
        policies[urgency.value] = item
        return created

    return await _change(services, principal, practice_id, if_match, edit,
                         "escalation_policies")  # fmt: skip


@router.delete("/{practice_id}/escalation-policies/{urgency}", responses=_ERRORS,
               summary="Remove the escalation of an urgency")  # fmt: skip
async def delete_policy(
    practice_id: Identifier, urgency: Urgency, services: Services, principal: Admin,
    if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """That urgency then escalates by the practice's simple ``escalation`` settings."""

    def edit(document: Document) -> None:
        if document["escalation_policies"].pop(urgency.value, None) is None:
            raise not_found("escalation policy")

    return await _change(services, principal, practice_id, if_match, edit,
                         "escalation_policies")  # fmt: skip


@router.put("/{practice_id}/closed-dates/{day}", responses=_ERRORS,
            summary="Close the office on a day")  # fmt: skip
async def close_day(
    practice_id: Identifier, day: date, services: Services, principal: Admin,
    if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """A local date the office is closed (besides its public holidays)."""

    def edit(document: Document) -> bool:
        closed = document["office_hours"]["closed_dates"]
        if day.isoformat() in closed:
            return False
        closed.append(day.isoformat())
        closed.sort()
        return True

    return await _change(services, principal, practice_id, if_match, edit, "office_hours")


@router.delete("/{practice_id}/closed-dates/{day}", responses=_ERRORS,
               summary="Open the office on a day again")  # fmt: skip
async def open_day(
    practice_id: Identifier, day: date, services: Services, principal: Admin,
    if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    def edit(document: Document) -> None:
        closed = document["office_hours"]["closed_dates"]
        if day.isoformat() not in closed:
            raise not_found("closed day")
        closed.remove(day.isoformat())

    return await _change(services, principal, practice_id, if_match, edit, "office_hours")
