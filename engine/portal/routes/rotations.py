"""Rotations: per coverage group, its layers; one layer edited at a time (participants
in order, shift length and unit, handoff time, dates, weekly restrictions) through the
API's ``put_layer``, with a preview of the group's next 14 days computed in memory with
the change applied (validated like a save, nothing saved)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from engine.api.deps import Principal, requires, services_of
from engine.api.practice_edits import not_found, practice_in_scope, validated
from engine.api.problems import ApiProblem
from engine.api.routers import admin_items
from engine.api.services import ApiServices
from engine.domain.practice import Practice
from engine.domain.schedule import CoverageGroup, CoverageRole, Layer, ShiftUnit
from engine.domain.schedule_resolution import Segment, render
from engine.portal.render import PREFIX, page, see_other
from engine.portal.routes.settings_forms import form_problems, saved
from engine.schemas._base import Identifier

__all__ = ["layer_fields", "layer_from_fields", "router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
PREVIEW_DAYS = 14
FIELDS = ("name", "role", "participants", "shift_length", "shift_unit", "handoff_time",
          "start_date", "end_date", "restrictions")  # fmt: skip


def layer_fields(layer: Layer) -> dict[str, str]:
    """A layer as its form shows it: participants one a line, restrictions one a line
    (``mon tue 17:00-08:00``)."""
    return {
        "name": layer.name, "role": layer.role.value,
        "participants": "\n".join(layer.participants),
        "shift_length": str(layer.shift_length), "shift_unit": layer.shift_unit.value,
        "handoff_time": layer.handoff_time.strftime("%H:%M"),
        "start_date": layer.start_date.isoformat(),
        "end_date": layer.end_date.isoformat() if layer.end_date else "",
        "restrictions": "\n".join(
            " ".join(d.value for d in r.days) + f" {r.start:%H:%M}-{r.end:%H:%M}"
            for r in layer.restrictions
        ),
    }  # fmt: skip


def _restriction(line: str, number: int) -> dict[str, Any]:
    *days, hours = line.split()
    start, separator, end = hours.partition("-")
    if not days or not separator:
        raise ValueError(f"restriction line {number}: write days then hours, "
                         "e.g. 'mon tue 17:00-08:00'")  # fmt: skip
    return {"days": [d.lower() for d in days], "start": start, "end": end}


def layer_from_fields(layer_id: str, fields: dict[str, str]) -> Layer:
    """The layer a form describes; ``ValueError`` / ``ValidationError`` say what is wrong."""
    lines = [line.strip() for line in fields.get("restrictions", "").splitlines()]
    return Layer.model_validate({
        "layer_id": layer_id, "name": fields.get("name", "").strip(),
        "role": fields.get("role", "primary"),
        "participants": [p.strip() for p in fields.get("participants", "").splitlines()
                         if p.strip()],
        "shift_length": fields.get("shift_length", ""),
        "shift_unit": fields.get("shift_unit", ""),
        "handoff_time": fields.get("handoff_time", ""),
        "start_date": fields.get("start_date", ""),
        "end_date": fields.get("end_date") or None,
        "restrictions": [_restriction(line, n) for n, line in enumerate(lines, 1) if line],
    })  # fmt: skip


def _with_layer(practice: Practice, group_id: str, layer: Layer) -> Practice:
    if all(g.group_id != group_id for g in practice.coverage_groups):
        raise not_found("coverage group")
    groups = []
    for group in practice.coverage_groups:
        if group.group_id == group_id:
            layers = [layer if lay.layer_id == layer.layer_id else lay for lay in group.layers]
            if all(lay.layer_id != layer.layer_id for lay in group.layers):
                layers.append(layer)
            group = group.model_copy(update={"layers": layers})
        groups.append(group)
    return validated(practice.model_copy(update={"coverage_groups": groups}))


def _preview(
    group: CoverageGroup, start: datetime, end: datetime, zone: ZoneInfo
) -> dict[str, list[Segment]]:
    return {role.value: render(group, role, start, end, zone) for role in CoverageRole}


async def _page(
    request: Request, services: ApiServices, principal: Principal, practice_id: str, *,
    status_code: int = 200, editing: tuple[str, str] | None = None,
    draft: dict[str, str] | None = None, problems: list[str] | None = None,
    preview: dict[str, list[Segment]] | None = None, done: str | None = None,
    revision: str | None = None,
) -> Response:  # fmt: skip
    """The page; ``draft`` and ``revision``: the layer form being edited as it was sent,
    and the revision it was read at (kept, so a save after someone else's is refused)."""
    practice = await practice_in_scope(services, principal, practice_id)
    forms = {
        (g.group_id, lay.layer_id): layer_fields(lay)
        for g in practice.coverage_groups for lay in g.layers
    }  # fmt: skip
    if editing is not None and draft is not None:
        forms[editing] = draft
    return page(
        request, "rotations.html", principal, practice_id=practice_id, practice=practice,
        forms=forms, editing=editing, problems=problems or [], preview=preview,
        tz=practice.timezone, names={c.clinician_id: c.display_name for c in practice.clinicians},
        roles=[r.value for r in CoverageRole], units=[u.value for u in ShiftUnit],
        done=done, draft_revision=revision, status_code=status_code,
    )  # fmt: skip


@router.get("/practices/{practice_id}/rotations")
async def rotations(
    request: Request, practice_id: Identifier, services: Services, principal: Admin,
    saved_layer: str | None = None,
) -> Response:  # fmt: skip
    return await _page(request, services, principal, practice_id, done=saved_layer)


@router.post("/practices/{practice_id}/rotations/{group_id}/{layer_id}")
async def edit_layer(
    request: Request, practice_id: Identifier, group_id: Identifier, layer_id: Identifier,
    services: Services, principal: Admin,
) -> Response:  # fmt: skip
    """``action=preview`` shows the group's next 14 days with the change; ``save`` saves
    it at the revision the form was read at."""
    form = await request.form()
    fields = {name: str(form.get(name, "")) for name in FIELDS}
    answer: dict[str, Any] = {"editing": (group_id, layer_id), "draft": fields,
                              "revision": str(form.get("revision", ""))}  # fmt: skip
    try:
        layer = layer_from_fields(layer_id, fields)
    except ValidationError as error:
        answer["problems"] = form_problems(error)
    except ValueError as error:
        answer["problems"] = [str(error)]
    if "problems" in answer:
        return await _page(request, services, principal, practice_id, status_code=422, **answer)
    if form.get("action") == "preview":
        practice = await practice_in_scope(services, principal, practice_id)
        try:
            changed = _with_layer(practice, group_id, layer)
        except ApiProblem as refused:
            answer["problems"] = [f"{e.field}: {e.problem}" for e in refused.problem.errors or []]
            return await _page(request, services, principal, practice_id, status_code=422,
                               **answer)  # fmt: skip
        group = next(g for g in changed.coverage_groups if g.group_id == group_id)
        now = services.clock.now()
        end = now + timedelta(days=PREVIEW_DAYS)
        answer["preview"] = await asyncio.to_thread(_preview, group, now, end, changed.zone)
        return await _page(request, services, principal, practice_id, **answer)
    problems = await saved(admin_items.put_layer(
        practice_id, group_id, layer_id, layer, services, principal,
        if_match=str(form.get("revision", "")),
    ))  # fmt: skip
    if problems:
        return await _page(request, services, principal, practice_id, status_code=422,
                           problems=problems, **answer)  # fmt: skip
    return see_other(f"{PREFIX}/practices/{practice_id}/rotations?saved_layer={layer_id}")
