"""Dead letters: input that could not be processed, with the reason.

The raw bytes may hold PHI, so they are kept encrypted (Fernet, key from the
settings); operators list dead letters with ``nightline deadletter list``, decrypt
one with ``nightline deadletter show`` and send a corrected intake event with
``nightline deadletter replay``. ``practice_id`` and ``intake_event_id`` tie an intake
dead letter to its practice when they could be read from the raw bytes (ids only).
"""

from __future__ import annotations

import uuid

from pydantic import Field

from engine.schemas._base import AwareDatetime, Event, Identifier

__all__ = ["REASON_CODES", "DeadLetter"]

REASON_CODES = (
    "invalid_json",
    "schema_violation",
    "unknown_practice",
    "event_id_conflict",
    "oversize",
    "handler_error",
    "push_rejected",
)


class DeadLetter(Event):
    """One rejected record."""

    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    reason_code: str = Field(pattern=rf"^({'|'.join(REASON_CODES)})$")
    reason: str = Field(max_length=2000, description="What was wrong, without field values.")
    raw_size: int = Field(ge=0, description="Size of the record as it arrived.")
    raw_encrypted: str = Field(description="Fernet token of the raw bytes (their start only, "
                               "when raw_truncated).")  # fmt: skip
    raw_truncated: bool = Field(
        default=False,
        description="Only the first bytes are kept: the record was too large to carry whole.",
    )
    at: AwareDatetime
    practice_id: Identifier | None = Field(
        default=None, description="The intake event's practice, when it could be read."
    )
    intake_event_id: uuid.UUID | None = Field(
        default=None, description="The intake event's own event_id, when it could be read."
    )
