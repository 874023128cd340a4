"""Encode and decode events as JSON bytes. Faust knows nothing of pydantic, so
topics carry raw bytes and agents call these functions.

Errors raised here carry a reason with locations and messages but never the
offending values (they may be PHI), ready for the dead-letter topic.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

__all__ = ["DecodeError", "decode", "encode", "safe_validation_summary"]


class DecodeError(ValueError):
    """Input that is not a valid event; ``code`` is the dead-letter reason code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def encode(event: BaseModel) -> bytes:
    """Serialise an event as compact JSON."""
    return event.model_dump_json().encode()


def safe_validation_summary(error: ValidationError, limit: int = 10) -> str:
    """Field paths and messages of a validation error, without the input values."""
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def decode(adapter: TypeAdapter[Any], raw: bytes | None, max_bytes: int | None = None) -> Any:
    """Parse and validate raw bytes with a type adapter, or raise :class:`DecodeError`."""
    if raw is None:
        raise DecodeError("invalid_json", "empty record value")
    if max_bytes is not None and len(raw) > max_bytes:
        raise DecodeError("oversize", f"{len(raw)} bytes exceeds the limit of {max_bytes}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError("invalid_json", f"not JSON: {type(exc).__name__} at {_pos(exc)}") from exc
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise DecodeError("schema_violation", safe_validation_summary(exc)) from exc


def _pos(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno} column {exc.colno}"
    return "byte stream"
