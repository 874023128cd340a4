"""Shift swap requests: what may be asked, and the one-way states (pending, then
approved or declined; nothing changes after)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.domain.schedule import CoverageRole
from engine.domain.swaps import SwapError, SwapRequest, SwapStatus, decide, new_request

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
START = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
END = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _ask(**change: object) -> SwapRequest:
    args: dict[str, object] = {
        "request_id": "s-1", "practice_id": "p", "group_id": "main",
        "role": CoverageRole.PRIMARY, "start": START, "end": END, "requester_id": "dr-ash",
        "with_clinician_id": "dr-lee", "note": "  family wedding ", "now": NOW,
    }  # fmt: skip
    return new_request(**{**args, **change})  # type: ignore[arg-type]


def test_a_new_request_is_pending_with_its_ids_and_times() -> None:
    request = _ask()
    assert request.status is SwapStatus.PENDING
    assert (request.requester_id, request.with_clinician_id) == ("dr-ash", "dr-lee")
    assert request.note == "family wedding" and request.created_at == NOW


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end": START}, "end"),
        ({"end": START - timedelta(hours=1)}, "end"),
        ({"start": NOW - timedelta(hours=9), "end": NOW - timedelta(hours=1)}, "end"),
        ({"with_clinician_id": "dr-ash"}, "with_clinician_id"),
        ({"note": "x" * 201}, "note"),
        ({"end": START + timedelta(days=31, seconds=1)}, "end"),
        ({"start": datetime(1, 1, 1, tzinfo=UTC), "end": END}, "end"),
    ],
)
def test_a_request_that_makes_no_sense_names_the_field(
    change: dict[str, object], field: str
) -> None:
    with pytest.raises(SwapError) as refused:
        _ask(**change)
    assert refused.value.field == field
    assert "x" * 20 not in str(refused.value)  # never the note itself


def test_a_shift_under_way_may_still_be_swapped() -> None:
    request = _ask(start=NOW - timedelta(hours=1))
    assert request.status is SwapStatus.PENDING


def test_a_swap_of_exactly_31_days_may_be_asked() -> None:
    assert _ask(end=START + timedelta(days=31)).end == START + timedelta(days=31)


@pytest.mark.parametrize(("approve", "status"), [(True, "approved"), (False, "declined")])
def test_only_a_pending_request_is_decided_once(approve: bool, status: str) -> None:
    later = NOW + timedelta(minutes=5)
    decided = decide(_ask(), approve, "a-admin", later)
    assert (decided.status.value, decided.decided_by, decided.decided_at) == (
        status,
        "a-admin",
        later,
    )
    for again in (True, False):
        with pytest.raises(SwapError) as refused:
            decide(decided, again, "a-other", later)
        assert refused.value.field == "status" and status in refused.value.message
