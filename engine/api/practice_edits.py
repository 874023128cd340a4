"""What every practice-administration write shares: the practice in the caller's scope,
``If-Match`` read as the expected revision, validation exactly like a practice file (the
same messages, as 422), and the save through the practice store, which versions, audits
and publishes each revision.

The routers in ``engine.api.routers.admin*`` stay thin: they pick what changes and call
these.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse

from engine.adapters.practice_store import PublishError, RevisionConflict
from engine.api.deps import Principal
from engine.api.problems import ApiProblem, FieldProblem
from engine.api.services import ApiServices
from engine.domain.practice import Practice
from engine.practice_files import PracticeFileError, check_practice, load_practice_text

__all__ = [
    "IfMatch",
    "etag",
    "expected_revision",
    "invalid",
    "not_found",
    "plain_number",
    "practice_in_scope",
    "save",
    "validated",
    "validated_document",
]

IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description="The ETag (revision) this change is based on."),
]


def etag(revision: int) -> str:
    return f'"{revision}"'


def plain_number(text: str, digits: int = 19) -> bool:
    """Whether ``text`` is a whole number written with ASCII digits only, at most
    ``digits`` long (``str.isdigit`` also accepts ``²``, which ``int`` refuses, and
    ``int`` refuses more than 4300 digits)."""
    return text.isascii() and text.isdecimal() and len(text) <= digits


def not_found(what: str) -> ApiProblem:
    return ApiProblem(404, "Not found", f"No {what} has that id.", kind="not-found")


async def practice_in_scope(
    services: ApiServices, principal: Principal, practice_id: str
) -> Practice:
    """The practice, if the caller may act for it; else 404 (whether or not it exists)."""
    practice = None
    if principal.may_act_for(practice_id):
        practice = await services.run_store(services.practice_store.get, practice_id)
    if practice is None:
        raise ApiProblem(404, "Not found", "No practice of yours has that id.", kind="not-found")
    return practice


def expected_revision(if_match: str | None) -> int:
    """The revision a change is based on: 428 without ``If-Match``, 412 when unreadable."""
    if if_match is None:
        raise ApiProblem(
            428, "Precondition required",
            "Send If-Match with the ETag you read, so a concurrent change is not overwritten.",
            kind="if-match-required",
        )  # fmt: skip
    text = if_match.strip().removeprefix("W/").strip('"')
    if not plain_number(text):
        raise ApiProblem(412, "Precondition failed", "If-Match is not a revision.", kind="stale")
    return int(text)


def invalid(messages: list[tuple[str, str]]) -> ApiProblem:
    """422 naming each place and rule (the practice-file messages never hold PHI)."""
    return ApiProblem(
        422, "Invalid practice", "; ".join(f"{w}: {m}" if w else m for w, m in messages)[:2000],
        kind="validation", errors=[FieldProblem(field=w or "(practice)", problem=m)
                                   for w, m in messages[:50]],
    )  # fmt: skip


def validated_document(document: dict[str, Any], where: str) -> Practice:
    """A practice from its JSON form, validated like a practice file."""
    try:
        return load_practice_text(json.dumps(document), "request").practice
    except (PracticeFileError, RecursionError, ValueError) as exc:
        issues = getattr(exc, "issues", [])
        raise invalid([(i.where, i.message) for i in issues] or [(where, "not valid")]) from None


def validated(changed: Practice) -> Practice:
    """A practice changed in memory, checked across its parts and validated again."""
    problems = check_practice(changed)
    if problems:
        raise invalid([("", p) for p in problems])
    return Practice.model_validate(changed.model_dump())


async def save(
    services: ApiServices, principal: Principal, practice: Practice, expected: int,
    status_code: int = 200,
) -> JSONResponse:  # fmt: skip
    """Save as the next revision (412 if another was saved since ``expected``); answers
    once the broker has it, or 503 saying it is saved and still being sent."""
    actor = principal.subject.removeprefix("account:")
    try:
        revision = await services.run_store(services.practice_store.put, practice, actor, expected)
    except RevisionConflict as conflict:
        raise ApiProblem(
            412, "Precondition failed",
            f"Someone saved revision {conflict.current} meanwhile: read it again, then retry.",
            kind="stale",
        ) from None  # fmt: skip
    except PublishError as failed:
        services.republish_later(practice.practice_id)  # saved: make sure workers get it
        raise ApiProblem(
            503, "Unavailable",
            f"Saved as revision {failed.revision}, but not yet sent to the workers: Nightline "
            "keeps sending it. Read the practice again before another change.",
            kind="saved-not-live",
            headers={"Retry-After": "5", "ETag": etag(failed.revision)},
        ) from None  # fmt: skip
    return JSONResponse({"practice_id": practice.practice_id, "revision": revision},
                        status_code=status_code, headers={"ETag": etag(revision)})  # fmt: skip
