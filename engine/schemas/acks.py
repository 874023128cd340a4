"""Acknowledgements from the clinician app and the operator desk (keyed by ``dispatch_id``).

Version 2 names the page an acknowledgement answers: every push carries its page
number (``p`` on iOS, ``page`` on Android), and the app sends it back, so a receipt for
the first page never counts for a re-page and a late receipt never stops the failover
of a newer page. Version 1 acknowledgements (no ``page``) are still accepted: an
acceptance or a decline is unambiguous, and a receipt counts only while its dispatch's
current level has had a single page.

An operator at the answering service's desk claims a dispatch with ``accepted`` (and
closes it with ``callback_completed``), naming ``operator_id`` and ``desk_id`` instead
of a clinician; desk acknowledgements come from the desk console, never from a device.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from engine.schemas._base import AwareDatetime, Event, Identifier

__all__ = ["DESK_KINDS", "AckKind", "Acknowledgement"]


class AckKind(StrEnum):
    RECEIVED = "received"  # the device got the push (receipt, not a human action)
    DISPLAYED = "displayed"  # the notification was shown (a receipt, like received)
    READ = "read"  # the clinician opened the message (never ends the escalation)
    ACCEPTED = "accepted"  # the clinician takes responsibility / the desk claims it
    DECLINED = "declined"  # the clinician cannot take it: next level now
    CALLBACK_COMPLETED = "callback_completed"  # the patient was called back


DESK_KINDS = frozenset({AckKind.ACCEPTED, AckKind.CALLBACK_COMPLETED})
"""What an operator at the desk can do to a dispatch: claim it, then close it."""


class Acknowledgement(Event):
    """One action or receipt from a clinician's device, or from the operator desk."""

    schema_version: int = Field(default=2, ge=1, le=2, description="2 (1: without page).")
    dispatch_id: Identifier
    clinician_id: Identifier | None = Field(
        default=None, description="The clinician (from the signed-in app); not for the desk."
    )
    operator_id: Identifier | None = Field(
        default=None, description="The operator at the desk who claims or closes it."
    )
    desk_id: Identifier | None = Field(
        default=None, description="The operator's desk (must be the dispatch's desk)."
    )
    device_id: Identifier | None = None
    page: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="The page this answers, from the push (p / page). Required by version 2 "
        "for receipts (received, displayed, read).",
    )
    kind: AckKind
    at: AwareDatetime = Field(description="When the device or console recorded the action.")

    @model_validator(mode="after")
    def _one_actor(self) -> Acknowledgement:
        if (self.clinician_id is None) == (self.operator_id is None):
            raise ValueError("give exactly one of clinician_id and operator_id")
        if self.operator_id is not None:
            if self.desk_id is None or self.device_id is not None:
                raise ValueError("a desk acknowledgement needs desk_id and no device_id")
            if self.kind not in DESK_KINDS:
                raise ValueError("the desk can only claim (accepted) or close a dispatch")
        elif self.desk_id is not None:
            raise ValueError("desk_id belongs to desk acknowledgements (operator_id)")
        receipt = self.kind in (AckKind.RECEIVED, AckKind.DISPLAYED, AckKind.READ)
        if self.schema_version >= 2 and receipt and self.page is None:
            raise ValueError("a version 2 receipt must name its page")
        return self

    @property
    def actor_id(self) -> str:
        """The clinician or operator who acknowledged."""
        return self.clinician_id or self.operator_id or ""
