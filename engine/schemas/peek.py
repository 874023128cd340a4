"""Read the ids of an intake event from raw bytes that failed to decode, best effort.

When an intake record is dead-lettered, the operator desk is still alerted, and an
alert that names the practice (and the producer's event id, for a replay) is far more
useful than an anonymous one. :func:`peek_intake_ids` reads only the top-level
``practice_id`` and ``event_id``, returns each only when it is valid as the contract's
:data:`~engine.schemas._base.Identifier` / UUID, and never raises. It walks the
top-level object one member at a time with the standard JSON decoder, so the ids
survive a record that breaks later on (cut short, a bad value, a stray byte).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, NamedTuple

from pydantic import TypeAdapter, ValidationError

from engine.schemas._base import Identifier

__all__ = ["IntakeIds", "peek_intake_ids"]

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
_UUID: TypeAdapter[uuid.UUID] = TypeAdapter(uuid.UUID)


class IntakeIds(NamedTuple):
    practice_id: str | None
    event_id: uuid.UUID | None


def peek_intake_ids(raw: bytes | None) -> IntakeIds:
    """The record's ``practice_id`` and ``event_id`` where present and valid, else None."""
    try:
        members = _top_level_members(raw.decode("utf-8", errors="replace") if raw else "")
        return IntakeIds(
            _valid(_IDENTIFIER, members.get("practice_id")),
            _valid(_UUID, members.get("event_id")),
        )
    except Exception:  # never raise: this runs while handling bad input
        return IntakeIds(None, None)


def _valid(adapter: TypeAdapter[Any], value: object) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return adapter.validate_python(value)  # as the contract parses it (a str only)
    except ValidationError:
        return None


def _top_level_members(text: str) -> dict[str, object]:
    """The members of the top-level JSON object up to the first error (the last one
    wins for a repeated key, as for ``json.loads``)."""
    found: dict[str, object] = {}
    at = _skip(text, 0)
    if not text.startswith("{", at):
        return found
    at = _skip(text, at + 1)
    try:
        while text.startswith('"', at):
            key, at = _DECODER.raw_decode(text, at)
            at = _skip(text, at)
            if not text.startswith(":", at):
                break
            value, at = _DECODER.raw_decode(text, _skip(text, at + 1))
            found[key] = value
            at = _skip(text, at)
            if not text.startswith(",", at):
                break
            at = _skip(text, at + 1)
    except (ValueError, RecursionError):  # the record breaks here: keep what came before
        pass
    return found


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at
