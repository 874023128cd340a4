"""Plain-language labels for a dispatch's timeline entries (audit action codes), for the
portal's message timeline: ``ack_timeout`` becomes "Re-paged" or "Escalated" depending
on the page it led to, an acceptance at the desk is "Claimed at the desk", and an action
without a label of its own is spelled out from its code."""

from __future__ import annotations

import re

__all__ = ["label"]

_LABELS = {
    "page_sent": "Paged",
    "received": "Delivered to a phone",
    "read": "Read on a phone",
    "accepted": "Accepted",
    "declined": "Declined",
    "escalated": "Escalated to the next level",
    "page_failed": "Page did not reach a phone",
    "handed_to_operator": "Handed to the operator desk",
    "callback_completed": "Callback done",
    "cancelled": "Cancelled",
    "message_viewed": "Message viewed in the portal",
    "message_view_purged": "Message view asked for after it was purged",
    "desk_outcome": "Desk outcome recorded",
}
_REFUSED = "_refused"
_PAGING = re.compile(r"paging (?P<level>.+?) #(?P<attempt>\d+)")


def label(action: str, detail: str = "", to_status: str | None = None) -> str:
    """What happened, in words a practice administrator reads at a glance."""
    if action.endswith(_REFUSED):
        return f"{label(action.removesuffix(_REFUSED))} (refused)"
    if action == "accepted" and detail.startswith("claimed at "):
        return "Claimed at the desk"
    if action == "ack_timeout":
        paging = _PAGING.search(detail)
        if to_status == "operator":
            return "Desk re-alerted (not claimed yet)"
        if paging and paging["attempt"] != "1":
            return "Re-paged (no answer)"
        if paging:
            return f"Escalated to {paging['level']} (no answer)"
        return "No answer in time"
    return _LABELS.get(action) or action.replace("_", " ").capitalize()
