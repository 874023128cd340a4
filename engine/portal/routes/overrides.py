"""The overrides page: every override of each coverage group (who, kind, role, when,
note) with Edit and Remove, and one form to add ("X covered by Y") or edit an override.

The form first previews (the group's schedule for that time with the change applied in
memory, and the conflicts; nothing saved), then "Save" posts with the revision read to
the API's own route functions (``admin_items.add_override``, ``edit_override``,
``replace_on_call``, ``remove_override``), so a change saved meanwhile is refused and
said so on the page.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from engine.api.deps import Principal, requires, services_of
from engine.api.practice_edits import etag, practice_in_scope
from engine.api.problems import ApiProblem
from engine.api.routers import admin_items
from engine.api.services import ApiServices
from engine.domain._wall_clock import localize
from engine.domain.practice import Practice
from engine.domain.schedule import CoverageRole, OverrideKind
from engine.portal.override_preview import Proposal, preview, removal_preview
from engine.portal.render import PREFIX, page, see_other
from engine.portal.routes.settings_forms import form_problems
from engine.schemas._base import Identifier

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
Text = Annotated[str, Form(max_length=64)]
Back = Literal["calendar", "overrides"]
LOCAL = "%Y-%m-%dT%H:%M"
STALE = ("Someone saved a change to this practice meanwhile. Nothing was saved: open the "
         "overrides page again to see the change, then make yours again.")  # fmt: skip
LONGEST_PREVIEW = timedelta(days=93)


def _base(practice_id: str) -> str:
    return f"{PREFIX}/practices/{quote(practice_id)}"


def _local_input(value: str | None, practice: Practice) -> str:
    """An ISO instant from a link as the value of a local datetime input (empty if it
    is not one)."""
    if not value:
        return ""
    try:
        instant = datetime.fromisoformat(value)
        if instant.tzinfo is None:  # already local
            return instant.strftime(LOCAL)
        return instant.astimezone(practice.zone).strftime(LOCAL)
    except (ValueError, OverflowError):  # not an instant, or not one in the local zone
        return ""


def _instant(text: str, practice: Practice, name: str) -> datetime:
    """A local ``YYYY-MM-DDTHH:MM`` in the practice's zone as an instant (a repeated hour
    is its first time; a skipped one, the moment the clocks jump)."""
    try:
        instant = localize(datetime.strptime(text, LOCAL), practice.zone)
    except ValueError:
        instant = None
    if instant is None:
        raise ApiProblem(422, "Invalid form", f"{name}: not a date and time", kind="validation")
    return instant


async def _page(
    request: Request, services: ApiServices, principal: Principal, practice_id: str,
    form: dict[str, Any], status_code: int = 200, **context: Any,
) -> Response:  # fmt: skip
    practice = await practice_in_scope(services, principal, practice_id)
    context = {"revision": practice.revision, "error": None, "shown": None, "saved": None,
               "proposal": None, "removing": None, **context}  # fmt: skip
    return page(
        request, "overrides.html", principal, practice_id=practice_id, practice=practice,
        tz=practice.timezone, form=form, base=_base(practice_id), status_code=status_code,
        names={c.clinician_id: c.display_name for c in practice.clinicians}, **context,
    )  # fmt: skip


@router.get("/practices/{practice_id}/overrides")
async def overrides_page(
    request: Request, practice_id: Identifier, services: Services, principal: Admin,
    group: Identifier | None = None, role: CoverageRole = CoverageRole.PRIMARY,
    start: Annotated[str | None, Query(max_length=40)] = None,
    end: Annotated[str | None, Query(max_length=40)] = None,
    replace: Identifier | None = None, edit: Identifier | None = None,
    remove: Identifier | None = None,
    back: Back = "overrides", saved: Annotated[int | None, Query(ge=1)] = None,
) -> Response:  # fmt: skip
    """The list, and the form: empty, prefilled from the calendar, or an override to edit;
    with ``remove``, first the schedule without that override and a button to confirm."""
    practice = await practice_in_scope(services, principal, practice_id)
    form: dict[str, Any] = {
        "group_id": group or "", "role": role.value, "kind": "replace", "clinician_id": "",
        "replaced": replace or "", "start": _local_input(start, practice),
        "end": _local_input(end, practice), "note": "", "override_id": "", "back": back,
    }  # fmt: skip
    for g in practice.coverage_groups:
        for o in g.overrides:
            if o.override_id == edit and (group is None or g.group_id == group):
                form.update(
                    group_id=g.group_id, role=o.role.value, kind=o.kind.value,
                    clinician_id=o.clinician_id, replaced="", note=o.note, override_id=edit,
                    start=_local_input(o.start.isoformat(), practice),
                    end=_local_input(o.end.isoformat(), practice),
                )  # fmt: skip
    removing = None
    for g in practice.coverage_groups:
        for o in g.overrides:
            if o.override_id == remove and g.group_id == group:
                shown = await asyncio.to_thread(removal_preview, practice, g.group_id,
                                                o.override_id)  # fmt: skip
                removing = (g, o, shown)
    return await _page(request, services, principal, practice_id, form, saved=saved,
                       removing=removing)  # fmt: skip


def _form(
    group_id: str, role: str, kind: str, clinician_id: str, replaced: str, start: str,
    end: str, note: str, override_id: str, back: str,
) -> dict[str, Any]:  # fmt: skip
    return {"group_id": group_id, "role": role, "kind": kind, "clinician_id": clinician_id,
            "replaced": replaced, "start": start, "end": end, "note": note,
            "override_id": override_id, "back": back}  # fmt: skip


def _proposal(practice: Practice, form: dict[str, Any]) -> Proposal:
    """The override the form describes, checked as the API would check it (422 naming
    the fields, never their values)."""
    try:
        role, kind = CoverageRole(form["role"]), OverrideKind(form["kind"])
    except ValueError:
        raise ApiProblem(422, "Invalid form", "role or kind: not one of the choices",
                         kind="validation") from None  # fmt: skip
    proposal = Proposal(
        group_id=form["group_id"], role=role, kind=kind, clinician_id=form["clinician_id"],
        start=_instant(form["start"], practice, "start"),
        end=_instant(form["end"], practice, "end"), note=form["note"],
        override_id=form["override_id"] or None, replaced=form["replaced"] or None,
    )  # fmt: skip
    try:
        if proposal.end > proposal.start:  # else the preview says so, in plain words
            proposal.override()
    except ValidationError as error:
        raise ApiProblem(422, "Invalid form", "; ".join(form_problems(error)),
                         kind="validation") from None  # fmt: skip
    return proposal


def _previewable(proposal: Proposal) -> Proposal:
    """The proposal, if its time is short enough to preview (422 otherwise)."""
    if proposal.end - proposal.start > LONGEST_PREVIEW:
        raise ApiProblem(422, "Invalid form", f"end: at most {LONGEST_PREVIEW.days} days "
                         "after the start can be previewed; split a longer override",
                         kind="validation")  # fmt: skip
    return proposal


@router.post("/practices/{practice_id}/overrides/preview")
async def preview_override(
    request: Request, practice_id: Identifier, services: Services, principal: Admin,
    group_id: Text, role: Text, kind: Text, clinician_id: Text, start: Text, end: Text,
    revision: Annotated[int, Form(ge=1)], replaced: Text = "",
    note: Annotated[str, Form(max_length=300)] = "", override_id: Text = "",
    back: Text = "overrides",
) -> Response:  # fmt: skip
    """The schedule for that time with the change, and its conflicts; nothing saved.
    The revision the form was read at goes on to the Save button, so a change saved
    meanwhile is refused rather than overwritten."""
    practice = await practice_in_scope(services, principal, practice_id)
    form = _form(group_id, role, kind, clinician_id, replaced, start, end, note, override_id,
                 back)  # fmt: skip
    try:
        proposal = _previewable(_proposal(practice, form))
    except ApiProblem as problem:
        return await _page(request, services, principal, practice_id, form, 422,
                           error=problem.problem.detail, revision=revision)  # fmt: skip
    shown = await asyncio.to_thread(preview, practice, proposal)  # CPU work off the loop
    return await _page(request, services, principal, practice_id, form, shown=shown,
                       proposal=proposal, revision=revision)  # fmt: skip


async def _save(
    practice: Practice, proposal: Proposal, revision: int, services: ApiServices,
    principal: Principal,
) -> int:  # fmt: skip
    """Through the API's own routes; the revision saved."""
    if_match = etag(revision)
    pid, gid = practice.practice_id, proposal.group_id
    body = admin_items.NewOverride(
        clinician_id=proposal.clinician_id, start=proposal.start, end=proposal.end,
        kind=proposal.kind, role=proposal.role, note=proposal.note,
    )  # fmt: skip
    if proposal.override_id:
        answer = await admin_items.edit_override(pid, gid, proposal.override_id, body,
                                                 services, principal, if_match)  # fmt: skip
    elif proposal.replaced and proposal.kind is OverrideKind.REPLACE:
        cover = admin_items.ReplaceOnCall(
            replace=proposal.replaced, by=proposal.clinician_id, start=proposal.start,
            end=proposal.end, role=proposal.role, group_id=gid, note=proposal.note,
        )  # fmt: skip
        answer = await admin_items.replace_on_call(pid, cover, services, principal, if_match)
    else:
        answer = await admin_items.add_override(pid, gid, body, services, principal, if_match)
    return int(answer.headers["ETag"].strip('"'))


@router.post("/practices/{practice_id}/overrides/save")
async def save_override(
    request: Request, practice_id: Identifier, services: Services, principal: Admin,
    group_id: Text, role: Text, kind: Text, clinician_id: Text, start: Text, end: Text,
    revision: Annotated[int, Form(ge=1)], replaced: Text = "",
    note: Annotated[str, Form(max_length=300)] = "", override_id: Text = "",
    back: Text = "overrides",
) -> Response:  # fmt: skip
    """Saved: back to the calendar or the list. Refused: the form again, saying why."""
    practice = await practice_in_scope(services, principal, practice_id)
    form = _form(group_id, role, kind, clinician_id, replaced, start, end, note, override_id,
                 back)  # fmt: skip
    try:
        proposal = _proposal(practice, form)
        saved = await _save(practice, proposal, revision, services, principal)
    except ApiProblem as problem:
        return await _refused(request, services, principal, practice_id, form, problem,
                              revision)  # fmt: skip
    except ValidationError:
        error = "The override is not valid: check who, role and times."
        return await _page(request, services, principal, practice_id, form, 422, error=error,
                           revision=revision)  # fmt: skip
    if back == "calendar":
        day = proposal.start.astimezone(practice.zone).date().isoformat()
        return see_other(f"{_base(practice_id)}/calendar?view=week&group={quote(group_id)}"
                         f"&date={day}&saved={saved}")  # fmt: skip
    return see_other(f"{_base(practice_id)}/overrides?saved={saved}")


async def _refused(
    request: Request, services: ApiServices, principal: Principal, practice_id: str,
    form: dict[str, Any], problem: ApiProblem, revision: int,
) -> Response:  # fmt: skip
    """A stale revision or an invalid change, as a message on the page (never JSON); the
    form keeps the revision it was read at."""
    status = problem.problem.status
    if status == 412:
        message = STALE
    elif status == 404:
        message = "That override or group no longer exists: someone removed it meanwhile."
    else:
        message = f"Not saved: {problem.problem.detail or problem.problem.title}"
    return await _page(request, services, principal, practice_id, form, status, error=message,
                       revision=revision)  # fmt: skip


@router.post("/practices/{practice_id}/overrides/{group_id}/{override_id}/remove")
async def remove_override(
    request: Request, practice_id: Identifier, group_id: Identifier, override_id: Identifier,
    services: Services, principal: Admin, revision: Annotated[int, Form(ge=1)],
) -> Response:  # fmt: skip
    try:
        answer = await admin_items.remove_override(practice_id, group_id, override_id,
                                                   services, principal, etag(revision))  # fmt: skip
    except ApiProblem as problem:
        blank = _form("", "primary", "replace", "", "", "", "", "", "", "overrides")
        return await _refused(request, services, principal, practice_id, blank, problem,
                              revision)  # fmt: skip
    saved = answer.headers["ETag"].strip('"')
    return see_other(f"{_base(practice_id)}/overrides?saved={saved}")
