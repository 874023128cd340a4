"""Practice administration, whole or by part: the practice model read with its revision
as ``ETag``, replaced whole (as a practice file holds it, in JSON), or one part at a time
(``clinicians``, ``coverage_groups``, ``escalation_policies``, ``triage``, ``office_hours``,
...). Single items (one clinician, group, layer, override, policy, closed day) are in
``admin_items``; the read views in ``admin_views``.

Every write is validated like a practice file (the same messages, as 422) and saved by
the practice store, which versions, audits and publishes it, with ``If-Match``: a
concurrent save by another administrator is 412, a missing ``If-Match`` 428.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from engine.api.deps import Principal, requires, services_of
from engine.api.practice_edits import (
    IfMatch,
    etag,
    expected_revision,
    invalid,
    practice_in_scope,
    save,
    validated_document,
)
from engine.api.problems import ApiProblem, problem_responses
from engine.api.services import ApiServices
from engine.practice_files import PracticeFileError, load_practice_text
from engine.schemas._base import Identifier

__all__ = ["SECTIONS", "Admin", "Services", "router"]

router = APIRouter(prefix="/v1/admin/practices", tags=["admin"])
Services = Annotated[ApiServices, Depends(services_of)]
Admin = Annotated[Principal, Depends(requires("practice_admin", "service_admin"))]
_ERRORS = problem_responses(404, 412, 428)


@router.get("/{practice_id}", responses=_ERRORS, summary="The practice")
async def get_practice(
    practice_id: Identifier, services: Services, principal: Admin
) -> JSONResponse:
    """The practice definition; its ``ETag`` is the revision to send back in ``If-Match``."""
    practice = await practice_in_scope(services, principal, practice_id)
    return JSONResponse(practice.model_dump(mode="json"), headers={"ETag": etag(practice.revision)})


@router.put("/{practice_id}", responses=_ERRORS, summary="Replace the practice")
async def put_practice(
    practice_id: Identifier, request: Request, services: Services, principal: Admin,
    if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """The whole definition (as a practice file holds it, in JSON). Validated exactly like
    a practice file; saved as the next revision."""
    current = await practice_in_scope(services, principal, practice_id)  # 404 tells nothing
    expected = expected_revision(if_match)
    raw = await request.body()
    try:
        text = raw.decode().replace("\t", " ")
        loaded = load_practice_text(text, "request").practice
    except UnicodeDecodeError:
        raise invalid([("", "the body is not UTF-8 text")]) from None
    except PracticeFileError as exc:
        raise invalid([(i.where, i.message) for i in exc.issues]) from None
    if loaded.practice_id != practice_id:
        raise invalid([("practice_id", "must be the practice of the URL")])
    if loaded.operator_desk != current.operator_desk and not principal.all_practices:
        raise ApiProblem(  # the last level of every escalation is the answering service's
            403, "Forbidden", "Only a service administrator changes the operator desk.",
            kind="forbidden",
        )  # fmt: skip
    return await save(services, principal, loaded, expected)


SECTIONS = (
    "office_hours", "triage", "escalation", "escalation_policies", "schedule", "clinicians",
    "coverage_groups", "default_group", "content_retention_hours", "name", "timezone",
)  # fmt: skip
"""The parts of a practice an administrator replaces one at a time (the desk is not one)."""


@router.put("/{practice_id}/sections/{section}", responses=_ERRORS, summary="Replace a part")
async def put_section(
    practice_id: Identifier, section: Literal[SECTIONS], request: Request,  # type: ignore[valid-type]
    services: Services, principal: Admin, if_match: IfMatch = None,
) -> JSONResponse:  # fmt: skip
    """One part of the practice (``clinicians``, ``coverage_groups`` with their layers
    and overrides, ``escalation_policies``, ``triage`` rules, ``office_hours`` and closed
    days, ...): its new value as JSON, validated with the whole practice like a file."""
    current = await practice_in_scope(services, principal, practice_id)
    expected = expected_revision(if_match)
    try:
        value = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise invalid([(section, "the body is not JSON")]) from None
    document = {**current.model_dump(mode="json", exclude={"revision"}), section: value}
    loaded = validated_document(document, section)
    return await save(services, principal, loaded, expected)
