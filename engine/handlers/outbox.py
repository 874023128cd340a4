"""Effects as JSON for the outbox. A commit appends its effects, each with a stable id
(``<version>.<index>``: the version the decision made, its place among the decision's
effects) and the version and time of the decision, so a re-run at any later time
publishes the same events with the same ids and times.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.domain import dispatch as decisions

__all__ = [
    "PendingEffect",
    "effect_from_dict",
    "effect_to_dict",
    "entry_to_dict",
    "new_entries",
    "pending",
    "retry_delay_s",
]

_ENTRY_KEYS = ("id", "made_version", "made_at")

FIRST_RETRY_S = 2.0
_MAX_RETRY_S = 60.0


def retry_delay_s(waited_s: float) -> float:
    """Seconds to the next try of an effect that has waited ``waited_s``: a quarter of
    the wait, between 2 s and a minute (doubling back-off without a counter)."""
    return min(_MAX_RETRY_S, max(FIRST_RETRY_S, waited_s / 4))


@dataclass(frozen=True)
class PendingEffect:
    """An effect not done yet: its id, and the version and time of the decision that
    made it (what its events carry, however late it runs)."""

    id: str
    effect: Any
    version: int
    at: datetime


def new_entries(version: int, at: datetime, effects: list[Any]) -> list[PendingEffect]:
    """The outbox entries of one decision's effects (ids unique within the dispatch)."""
    return [PendingEffect(f"{version}.{i}", e, version, at) for i, e in enumerate(effects)]


def entry_to_dict(entry: PendingEffect) -> dict[str, Any]:
    return {
        **effect_to_dict(entry.effect),
        "id": entry.id,
        "made_version": entry.version,
        "made_at": entry.at.isoformat(),
    }


def pending(outbox: list[dict[str, Any]], version: int, at: datetime) -> list[PendingEffect]:
    """The stored entries as effects; entries an older version wrote (no decision time or
    version) take the dispatch's current ones, as that version did."""
    found = []
    for data in outbox:
        made_at = data.get("made_at")
        found.append(
            PendingEffect(
                id=str(data["id"]),
                effect=effect_from_dict({k: v for k, v in data.items() if k not in _ENTRY_KEYS}),
                version=int(data.get("made_version", version)),
                at=datetime.fromisoformat(made_at) if made_at else at,
            )
        )
    return found


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
