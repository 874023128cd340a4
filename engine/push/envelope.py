"""The wire format of a Nightline push, as APNs / FCM carry it and the app reads it.

Everything here is visible to Apple and Google, so it holds no PHI: the dispatch id,
the urgency, the page number, a generic alert line and the device's ciphertext
(RFC 8291, see :mod:`engine.push.crypto`). Version 2 added the page number, which the
app sends back with every receipt and action for this push:

iOS (APNs JSON payload; ``aps`` is added by :mod:`engine.push.apns`)::

    {"aps": {"alert": {...generic...}, "mutable-content": 1, ...},
     "nl": {"v": 2, "d": "<dispatch id>", "u": "urgent", "p": 3,
            "c": "<ciphertext b64url>",
            "f": 1}}             # "c" absent when the device has no key; "f" only when
                                 # the app must fetch the message over the API

Android (FCM v1 ``message.data``, strings only)::

    {"v": "2", "dispatch_id": "...", "urgency": "urgent", "page": "3",
     "alert": "Urgent message...", "ciphertext": "<b64url>", "fetch": "0" | "1"}

The decrypted ciphertext is the JSON of :class:`engine.push.payload.PushContent`, or
``{"dispatch_id": ...}`` alone when the message was too large (``fetch`` set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.push.payload import DevicePayload

__all__ = ["WIRE_VERSION", "ReceivedPush", "android_data", "ios_payload", "parse_push"]

WIRE_VERSION = 2


@dataclass(frozen=True)
class ReceivedPush:
    """What an app finds in a push, whichever the platform."""

    dispatch_id: str
    urgency: str
    ciphertext_b64: str | None
    fetch: bool
    alert_text: str
    page: int | None = None  # None: a version 1 push


def ios_payload(payload: DevicePayload, urgency: str, page: int) -> dict[str, Any]:
    """The APNs payload: an ``aps`` alert with generic text, plus our ``nl`` keys."""
    nl: dict[str, Any] = {"v": WIRE_VERSION, "d": payload.dispatch_id, "u": urgency}
    if page:  # 0: a page decided before pages were numbered (the app answers without one)
        nl["p"] = page
    if payload.ciphertext_b64 is not None:
        nl["c"] = payload.ciphertext_b64
    if payload.truncated:
        nl["f"] = 1
    return {"aps": {"alert": {"title": "Nightline", "body": payload.alert_text}}, "nl": nl}


def android_data(payload: DevicePayload, urgency: str, page: int) -> dict[str, str]:
    """The FCM data message (FCM data values must be strings)."""
    data = {
        "v": str(WIRE_VERSION),
        "dispatch_id": payload.dispatch_id,
        "urgency": urgency,
        "alert": payload.alert_text,
        "fetch": "1" if payload.truncated else "0",
    }
    if page:
        data["page"] = str(page)
    if payload.ciphertext_b64 is not None:
        data["ciphertext"] = payload.ciphertext_b64
    return data


def _page(value: Any) -> int | None:
    """The page number of a received push (None in version 1 pushes)."""
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def parse_push(platform: str, body: dict[str, Any]) -> ReceivedPush:
    """Read a received APNs payload (``ios``) or FCM data map (``android``)."""
    if platform == "ios":
        nl = body.get("nl")
        if not isinstance(nl, dict) or "d" not in nl:
            raise ValueError("not a Nightline APNs payload (no 'nl.d')")
        alert = body.get("aps", {}).get("alert", {})
        return ReceivedPush(
            dispatch_id=str(nl["d"]),
            urgency=str(nl.get("u", "")),
            ciphertext_b64=nl.get("c"),
            fetch=bool(nl.get("f")),
            alert_text=str(alert.get("body", "")) if isinstance(alert, dict) else str(alert),
            page=_page(nl.get("p")),
        )
    if platform == "android":
        if "dispatch_id" not in body:
            raise ValueError("not a Nightline FCM data message (no 'dispatch_id')")
        return ReceivedPush(
            dispatch_id=str(body["dispatch_id"]),
            urgency=str(body.get("urgency", "")),
            ciphertext_b64=body.get("ciphertext"),
            fetch=body.get("fetch") == "1",
            alert_text=str(body.get("alert", "")),
            page=_page(body.get("page")),
        )
    raise ValueError(f"platform must be 'ios' or 'android', not {platform!r}")
