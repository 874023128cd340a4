"""The message a push carries to a clinician, before it is encrypted for a device.

It sits apart from :mod:`engine.push.payload` (which encrypts it per device and needs
:class:`engine.ports.Device`) so that the ports can name it without an import circle.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from engine.schemas.intake import Urgency

__all__ = ["PushContent"]


class PushContent(BaseModel):
    """One message for a clinician. Every field but the first two is PHI; reprs hide them."""

    model_config = ConfigDict(frozen=True)

    dispatch_id: str
    urgency: Urgency
    patient_name: str = Field(repr=False)
    callback_number: str = Field(repr=False)
    message: str = Field(repr=False)
    practice_name: str = Field(repr=False)
