"""Dead letters: input that could not be processed, with the reason.

The raw bytes may hold PHI, so they are kept encrypted (Fernet, key from the
settings); operators decrypt them with ``nightline deadletter show``.
"""

from __future__ import annotations

from pydantic import Field

from engine.schemas._base import AwareDatetime, Event

__all__ = ["DeadLetter"]


class DeadLetter(Event):
    """One rejected record."""

    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    reason_code: str = Field(
        pattern=r"^(invalid_json|schema_violation|unknown_practice|event_id_conflict|oversize|handler_error|push_rejected)$"
    )
    reason: str = Field(max_length=2000, description="What was wrong, without field values.")
    raw_size: int = Field(ge=0)
    raw_encrypted: str = Field(description="Fernet token of the raw bytes.")
    at: AwareDatetime
