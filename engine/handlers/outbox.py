"""Effects as JSON for the outbox: a dispatch commits its state together with
the effects still to run, so a crash after the commit re-runs them on
redelivery instead of losing a page.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from typing import Any

from engine.domain import dispatch as decisions

__all__ = ["effect_from_dict", "effect_to_dict"]


def _effect_types() -> dict[str, type]:
    names = typing.get_args(decisions.Effect)
    if isinstance(decisions.Effect, types.UnionType) or names:
        return {cls.__name__: cls for cls in names}
    raise TypeError("engine.domain.dispatch.Effect must be a union of dataclasses")


def effect_to_dict(effect: object) -> dict[str, Any]:
    data: dict[str, Any] = {"type": type(effect).__name__}
    for field in dataclasses.fields(effect):  # type: ignore[arg-type]
        value = getattr(effect, field.name)
        data[field.name] = value.isoformat() if isinstance(value, datetime) else value
    return data


def effect_from_dict(data: dict[str, Any]) -> object:
    """The effect of an outbox entry; a field the entry lacks (written by an earlier
    version, e.g. before pages were numbered) takes the field's default."""
    cls = _effect_types()[data["type"]]
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name not in data:
            continue
        value = data[field.name]
        if hints.get(field.name) is datetime and isinstance(value, str):
            value = datetime.fromisoformat(value)
        kwargs[field.name] = value
    return cls(**kwargs)
