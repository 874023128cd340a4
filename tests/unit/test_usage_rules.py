"""What each event counts for billing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from engine.api.usage_rules import intake_counters, local_day, transition_counters
from engine.schemas.dispatch import DispatchStateChanged
from engine.schemas.intake import Urgency


def _change(
    from_status: str | None, to_status: str, trigger: str, level: str
) -> DispatchStateChanged:
    return DispatchStateChanged(
        dispatch_id="d-1", practice_id="p-1", intake_event_id=uuid.uuid4(),
        urgency=Urgency.URGENT, from_status=from_status, to_status=to_status, trigger=trigger,
        step=0, level_name=level, version=1, at=datetime(2026, 12, 5, tzinfo=UTC),
    )  # fmt: skip


def test_calls_messages_channels_and_minutes() -> None:
    assert intake_counters("voice_call", None) == {"channel_voice_call": 1, "calls": 1}
    assert intake_counters("voicemail", 125) == {
        "channel_voicemail": 1, "messages": 1, "minutes": 3,
    }  # fmt: skip
    assert intake_counters("sms", None) == {"channel_sms": 1, "messages": 1}


def test_a_dispatch_counts_its_first_page_repages_and_escalations() -> None:
    assert transition_counters(_change(None, "sent", "page_sent", "primary"), None) == {
        "dispatches_urgent": 1, "pages": 1,
    }  # fmt: skip
    assert transition_counters(_change(None, "operator", "handed_to_operator", "desk"), None) == {
        "dispatches_urgent": 1
    }
    repage = _change("sent", "sent", "ack_timeout", "primary")
    assert transition_counters(repage, "primary") == {"pages": 1, "repages": 1}
    onward = _change("sent", "sent", "ack_timeout", "backup")
    assert transition_counters(onward, "primary") == {"pages": 1, "escalations": 1}
    to_desk = _change("sent", "operator", "ack_timeout", "operator")
    assert transition_counters(to_desk, "backup") == {}
    assert transition_counters(_change("sent", "accepted", "accepted", "primary"), "p") == {}


def test_days_are_the_practices_own() -> None:
    late = datetime(2026, 12, 5, 3, 30, tzinfo=UTC)  # 22:30 on the 4th in New York
    assert local_day(late, ZoneInfo("America/New_York")) == "2026-12-04"
    assert local_day(late, None) == "2026-12-05"
