"""Audit / timeline entries: who did what, when, at which step. Never PHI."""

from __future__ import annotations

from pydantic import Field

from engine.schemas._base import AwareDatetime, Event, Identifier

__all__ = ["AuditEvent"]


class AuditEvent(Event):
    """One entry of a dispatch's or practice's timeline."""

    at: AwareDatetime
    practice_id: Identifier
    subject_type: str = Field(
        pattern=r"^(dispatch|held_message|intake|practice|account|api_key)$",
        description="What the entry is about; 'account': a person's account was changed; "
        "'api_key': an integration's key was issued, rotated or revoked.",
    )
    subject_id: Identifier
    actor: Identifier = Field(description="'engine', a clinician id, or an operator id.")
    action: str = Field(max_length=64, pattern=r"^[a-z0-9_]+$")
    from_status: str | None = None
    to_status: str | None = None
    step: int | None = Field(default=None, ge=0)
    detail: str = Field(default="", max_length=300, description="Codes and numbers, no PHI.")
