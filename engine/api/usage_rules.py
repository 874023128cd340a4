"""What each event counts for billing, and how a dispatch's transitions read in its
history: pure functions over the events the engine already publishes.

Answering services bill per call or per minute, so a voice call counts as a call, any
other intake as a message (by channel), and a voicemail's duration adds minutes.
Dispatches count by urgency; pages count the first page, each re-page of the same level
and each escalation to another level; the desk, held messages and live transfers have
their own counters.
"""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from engine.schemas.dispatch import DispatchStateChanged
from engine.schemas.intake import IntakeKind

__all__ = ["COUNTERS", "intake_counters", "local_day", "transition_counters"]

COUNTERS = (
    "calls", "messages", "minutes", "dispatches_emergency", "dispatches_urgent",
    "dispatches_routine", "pages", "repages", "escalations", "desk_alerts", "held_messages",
    "live_transfers",
)  # fmt: skip
"""Every usage counter, in the order reports show them (channels come after)."""


def local_day(at: datetime, zone: ZoneInfo | None) -> str:
    """The practice's calendar day of ``at`` (UTC when the practice is unknown)."""
    return (at.astimezone(zone) if zone else at).date().isoformat()


def intake_counters(kind: str, duration_seconds: int | None) -> dict[str, int]:
    counts = {f"channel_{kind}": 1}
    counts["calls" if kind == IntakeKind.VOICE_CALL else "messages"] = 1
    if duration_seconds:
        counts["minutes"] = math.ceil(duration_seconds / 60)
    return counts


def transition_counters(change: DispatchStateChanged, previous_level: str | None) -> dict[str, int]:
    """The counters one state change adds, given the level the dispatch was at before."""
    if change.from_status is None:  # created: its first page, unless straight to the desk
        first_page = {"pages": 1} if change.to_status != "operator" else {}
        return {f"dispatches_{change.urgency}": 1, **first_page}
    trigger = change.trigger
    if trigger == "handed_to_operator":
        return {}
    if trigger in ("ack_timeout", "escalated") and change.to_status != "operator":
        if trigger == "ack_timeout" and change.level_name == previous_level:
            return {"pages": 1, "repages": 1}
        return {"pages": 1, "escalations": 1}
    return {}
