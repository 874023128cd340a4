"""The portal's message pages: plain-language labels for timeline entries (from the
details the dispatch domain writes), and local-day filters on a DST day."""

from __future__ import annotations

import pytest

from engine.portal.timeline_labels import label


@pytest.mark.parametrize(
    ("action", "detail", "to_status", "expected"),
    [
        ("page_sent", "dispatch started; paging primary #1: dr-ash", "sent", "Paged"),
        ("ack_timeout", "no ack after 3s; paging primary #2: dr-ash", "sent",
         "Re-paged (no answer)"),
        ("ack_timeout", "no ack after 3s; paging backup #1: dr-birch", "sent",
         "Escalated to backup (no answer)"),
        ("ack_timeout", "desk did not claim in 60s; re-alert #2", "operator",
         "Desk re-alerted (not claimed yet)"),
        ("accepted", "accepted at primary (page 2)", "accepted", "Accepted"),
        ("accepted", "claimed at desk-1", "accepted", "Claimed at the desk"),
        ("accepted_refused", "not paged", "accepted", "Accepted (refused)"),
        ("handed_to_operator", "nobody to page", "operator", "Handed to the operator desk"),
        ("callback_completed", "callback completed", "completed", "Callback done"),
        ("schedule_changed", "", None, "Schedule changed"),
    ],
)  # fmt: skip
def test_each_action_reads_as_plain_language(
    action: str, detail: str, to_status: str | None, expected: str
) -> None:
    assert label(action, detail, to_status) == expected


def test_a_local_day_range_spans_the_dst_day_of_the_practice() -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from engine.portal.routes.messages import local_range

    since, until = local_range("2026-11-01", "2026-11-01", ZoneInfo("America/New_York"))
    assert since == datetime(2026, 11, 1, 4, 0, tzinfo=ZoneInfo("UTC"))
    assert until is not None and until - since == timedelta(hours=25, milliseconds=-1)
    assert local_range("", "", ZoneInfo("America/New_York")) == (None, None)
