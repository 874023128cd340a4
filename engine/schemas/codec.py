"""Encode and decode events as JSON bytes. Faust knows nothing of pydantic, so
topics carry raw bytes and agents call these functions.

Errors raised here carry a reason built from field paths and error *types* only,
ready for the dead-letter topic and logs: never a value, and never a piece of a
location that is not a field name of the contract (an unknown key, a dict key, a
union tag value could all be patient text). pydantic's own messages are not used,
because they quote the input (``Input tag 'Jane Q' found using 'kind'``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

__all__ = ["DecodeError", "decode", "encode", "safe_validation_summary"]

HIDDEN = "*"
"""Stands in a location for a part that is not one of the contract's field names."""


class DecodeError(ValueError):
    """Input that is not a valid event; ``code`` is the dead-letter reason code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def encode(event: BaseModel) -> bytes:
    """Serialise an event as compact JSON."""
    return event.model_dump_json().encode()


def safe_validation_summary(
    error: ValidationError, adapter: TypeAdapter[Any], limit: int = 10
) -> str:
    """``path: error_type`` for each problem, e.g. ``voice_call.caller.callback_number:
    string_pattern_mismatch``; location parts that are not field names of ``adapter``'s
    contract show as ``*``, repeated problems are counted (``(x3)``)."""
    names = field_names(adapter)
    counts = Counter(_describe(item, names) for item in error.errors(include_input=False))
    parts = [f"{text} (x{n})" if n > 1 else text for text, n in counts.items()]
    if len(parts) > limit:
        parts = [*parts[:limit], f"... and {len(parts) - limit} more"]
    return "; ".join(parts)


def _describe(item: ErrorDetails, names: frozenset[str]) -> str:
    loc: tuple[int | str, ...] = item["loc"]
    if not loc and item["type"].startswith("union_tag_"):
        # the discriminator itself is the problem: name it (never the tag value)
        quoted = str((item.get("ctx") or {}).get("discriminator", ""))
        loc = (quoted.strip("'\""),)
    return f"{_path(loc, names) or '(root)'}: {item['type']}"


def _path(loc: tuple[int | str, ...], names: frozenset[str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"  # a position in a list, chosen by pydantic
        else:
            text += ("." if text else "") + (part if part in names else HIDDEN)
    return text


@lru_cache(maxsize=64)
def field_names(adapter: TypeAdapter[Any]) -> frozenset[str]:
    """Every property name and union tag of the adapter's contract (its JSON Schema),
    plus pydantic's own location words; empty when the schema cannot be built."""
    try:
        schema = adapter.json_schema()
    except Exception:  # an exotic type: show no location part rather than fail
        return frozenset()
    return frozenset(_schema_names(schema)) | {"[key]"}


def _schema_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                yield from value
            elif key == "discriminator" and isinstance(value, dict):
                yield str(value.get("propertyName", ""))
                yield from value.get("mapping") or {}
            yield from _schema_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schema_names(value)


def decode(adapter: TypeAdapter[Any], raw: bytes | None, max_bytes: int | None = None) -> Any:
    """Parse and validate raw bytes with a type adapter, or raise :class:`DecodeError`."""
    if raw is None:
        raise DecodeError("invalid_json", "empty record value")
    if max_bytes is not None and len(raw) > max_bytes:
        raise DecodeError("oversize", f"{len(raw)} bytes exceeds the limit of {max_bytes}")
    try:
        data = json.loads(raw)
    except RecursionError as exc:
        raise DecodeError("invalid_json", "not JSON: nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise DecodeError("invalid_json", f"not JSON: {type(exc).__name__} at {_pos(exc)}") from exc
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise DecodeError("schema_violation", safe_validation_summary(exc, adapter)) from exc


def _pos(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno} column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"byte {exc.start}"
    return "a value"
