"""What goes into a push for one device: PHI only inside that device's ciphertext.

APNs and FCM both cap a payload at 4,096 bytes, and the provider can read everything
outside the ciphertext, so the visible part is a generic, PHI-free alert text and the
dispatch id. The message itself (:class:`PushContent`, JSON) is encrypted for the device
(:mod:`engine.push.crypto`). When it would not fit in :data:`MAX_CIPHERTEXT_B64`, or the
device has no usable key, the push carries only the dispatch id and the app fetches the
message over the authenticated API (``truncated=True``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from engine.ports import Device
from engine.push.content import PushContent
from engine.push.crypto import OVERHEAD, DeviceKeyError, b64url_encode, encrypt_for_device
from engine.schemas.intake import Urgency

__all__ = [
    "ALERT_TEXT",
    "MAX_CIPHERTEXT_B64",
    "DevicePayload",
    "PushContent",
    "alert_text_for",
    "build_device_payload",
]

log = logging.getLogger(__name__)

# Base64url characters of ciphertext allowed in one push. The 4,096-byte APNs/FCM limit
# covers the whole JSON payload; ~800 bytes stay for the envelope (aps/alert/sound/
# category, dispatch id, keys, quoting). 3,300 chars = 2,475 ciphertext bytes, i.e. about
# 2,370 bytes of JSON message (crypto.OVERHEAD is 103 bytes).
MAX_CIPHERTEXT_B64 = 3300

ALERT_TEXT: dict[Urgency, str] = {
    Urgency.ROUTINE: "New message - open to view",
    Urgency.URGENT: "Urgent message - open to view",
    Urgency.EMERGENCY: "EMERGENCY message - open to view now",
}


@dataclass(frozen=True)
class DevicePayload:
    """The device-specific part of a push; safe for the provider to see.

    ``ciphertext_b64`` is base64url (no padding) of an aes128gcm body, or None when the
    device has no key. ``truncated`` means the ciphertext (if any) holds only the dispatch
    id and the app must fetch the message.
    """

    ciphertext_b64: str | None
    dispatch_id: str
    alert_text: str
    truncated: bool


def alert_text_for(urgency: Urgency | str) -> str:
    """The generic, PHI-free line shown on the lock screen (routine text if unknown)."""
    try:
        return ALERT_TEXT[Urgency(urgency)]
    except ValueError:
        return ALERT_TEXT[Urgency.ROUTINE]


def _b64url_length(n: int) -> int:
    """Characters of unpadded base64url for ``n`` bytes."""
    return (4 * n + 2) // 3


def _seal(plaintext: bytes, device: Device) -> str:
    return b64url_encode(encrypt_for_device(plaintext, device.public_key, device.auth_secret))


def build_device_payload(content: PushContent, device: Device) -> DevicePayload:
    """Encrypt ``content`` for ``device``, falling back to the dispatch id alone."""
    alert = alert_text_for(content.urgency)
    only_id = DevicePayload(None, content.dispatch_id, alert, truncated=True)
    if not (device.public_key and device.auth_secret):
        return only_id
    try:
        plaintext = content.model_dump_json().encode()
        if _b64url_length(len(plaintext) + OVERHEAD) <= MAX_CIPHERTEXT_B64:
            full = _seal(plaintext, device)
            return DevicePayload(full, content.dispatch_id, alert, truncated=False)
        stub = json.dumps({"dispatch_id": content.dispatch_id}, separators=(",", ":")).encode()
        return DevicePayload(_seal(stub, device), content.dispatch_id, alert, truncated=True)
    except DeviceKeyError:
        log.warning(
            "device %s of clinician %s has an unusable public key; sending the dispatch id only",
            device.device_id,
            device.clinician_id,
        )
        return only_id
