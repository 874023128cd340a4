"""Base class and shared field types of every Nightline event contract.

Every event is strict (unknown fields are rejected), carries a ``schema_version``
and an ``event_id``, and uses timezone-aware datetimes only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "IDENTIFIER_PATTERN",
    "AwareDatetime",
    "Event",
    "Identifier",
    "derived_event_id",
    "new_event_id",
]


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must carry a time zone offset (e.g. 2026-01-05T03:12:00Z)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_require_aware)]
"""A datetime that must include a UTC offset; naive datetimes are rejected."""

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$"
"""The characters of an :data:`Identifier` (its length, 1 to 128, is checked apart)."""

Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN)
]
"""An opaque id (practice, clinician, device, source system): letters, digits, ``_.:-``."""


def new_event_id() -> uuid.UUID:
    """A fresh random event id."""
    return uuid.uuid4()


def derived_event_id(kind: str, *parts: object) -> uuid.UUID:
    """A stable id for an event the engine emits in reaction to something: the same
    ``kind`` and ``parts`` (e.g. dispatch id and version) always give the same id, so
    a redelivered input re-emits duplicates consumers can drop."""
    return uuid.uuid5(uuid.NAMESPACE_URL, ":".join([kind, *map(str, parts)]))


class Event(BaseModel):
    """Common shape of every event on every Nightline topic."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    schema_version: int = Field(default=1, ge=1, description="Version of this event's contract.")
    event_id: uuid.UUID = Field(
        default_factory=new_event_id,
        description="Unique id of this event; producers reuse it when they retry (dedupe key).",
    )
