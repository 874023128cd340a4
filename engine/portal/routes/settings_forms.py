"""What the practice settings pages share: a save through the API's own route, read
with the revision the form was opened at (``If-Match``), whose refusals come back as
plain sentences for the page to show beside its form; a JSON body for the routes that
read one; and pydantic's complaints about a form in the same plain words."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from engine.api.problems import ApiProblem

__all__ = ["STALE", "form_problems", "json_request", "saved"]

STALE = (
    "Someone else saved a change to this practice since you opened this page. "
    "Reload the page to see it, then make your change again."
)


def form_problems(error: ValidationError) -> list[str]:
    """One sentence per field that failed (where, and the rule; never the value)."""
    return [
        f"{'.'.join(str(part) for part in e['loc']) or 'form'}: {e['msg']}"
        for e in error.errors(include_input=False, include_url=False)
    ]


async def saved(change: Awaitable[Any]) -> list[str]:
    """Await a save; [] when it is saved, else what was wrong, in plain words: a stale
    revision (412, 428) or the validation messages (422). Other problems stay problems."""
    try:
        await change
    except ApiProblem as refused:
        problem = refused.problem
        if problem.status in (412, 428):
            return [STALE]
        if problem.status == 422:
            if problem.errors:
                return [f"{e.field}: {e.problem}" for e in problem.errors]
            return [problem.detail or "The change is not valid."]
        raise
    except ValidationError as error:
        return form_problems(error)
    return []


def json_request(value: Any) -> Request:
    """A request carrying ``value`` as its JSON body, for the routes that read the body
    themselves (``put_section``)."""
    body = json.dumps(value).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "PUT", "path": "/", "query_string": b"",
             "headers": [(b"content-type", b"application/json")]}  # fmt: skip
    return Request(scope, receive)
