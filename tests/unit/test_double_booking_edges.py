"""Double bookings across practices, two edges: a practice listed twice counts once and
the practices after it are still compared; a clinician on call twice within one practice
(two groups) stays booked there until both end.

Found by the mutation audit (``make mutation``). Synthetic ids only.
"""

from __future__ import annotations

from engine.domain.coverage_report import DoubleBooking, double_bookings
from engine.domain.schedule import CoverageGroup
from tests.unit.schedule_factories import at, group, layer, schedule_practice, window

MONDAY, TUESDAY = at("2026-03-02 00:00"), at("2026-03-03 00:00")


def _hours(start: str, end: str, group_id: str = "peds") -> CoverageGroup:
    """A group where dr-x is on call every day from ``start`` to ``end``."""
    restriction = window("mon-sun", start, end)
    return group(layer(["dr-x"], start="2026-01-01", restrictions=[restriction]), group_id=group_id)


def test_a_practice_listed_twice_counts_once_and_the_rest_are_still_compared() -> None:
    a = schedule_practice(_hours("08:00", "12:00"), practice_id="p-a")
    b = schedule_practice(_hours("10:00", "14:00"), practice_id="p-b")
    found = double_bookings([a, a, b], MONDAY, TUESDAY)
    assert found == [
        DoubleBooking("dr-x", ("p-a", "p-b"), at("2026-03-02 10:00"), at("2026-03-02 12:00"))
    ]


def test_on_call_in_two_groups_of_one_practice_stays_booked_until_both_end() -> None:
    a = schedule_practice(
        _hours("08:00", "20:00", "day"), _hours("10:00", "12:00", "clinic"), practice_id="p-a"
    )
    b = schedule_practice(_hours("11:00", "15:00"), practice_id="p-b")
    found = double_bookings([a, b], MONDAY, TUESDAY)
    assert found == [
        DoubleBooking("dr-x", ("p-a", "p-b"), at("2026-03-02 11:00"), at("2026-03-02 15:00"))
    ]
