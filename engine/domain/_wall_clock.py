"""Local wall-clock time to UTC instants for on-call schedules (pure, ``zoneinfo`` only).

Schedules are written in local wall-clock time ("handoff at 08:00"), but
instants are compared in UTC. One rule turns a local time into an instant: the
first instant at which the zone's wall clock reads that time or later.

- An ordinary local time maps to its only instant.
- An ambiguous local time (the repeated hour when clocks fall back) maps to its
  first occurrence (``fold=0``).
- A non-existent local time (the hour skipped when clocks spring forward) maps
  to the instant just after the gap, when the clocks jump: 02:30 on a New York
  spring-forward day is 03:00 EDT.

The rule is monotone: a later local time never maps to an earlier instant, so
shifts and windows built from it never run backwards (some can be empty).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["localize", "wall"]

_TICK = timedelta(microseconds=1)


def wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock reading of an aware ``instant`` in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


@lru_cache(maxsize=16_384)
def localize(naive: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant at which ``zone``'s wall clock first reads ``naive`` (see module doc).

    None when the instant is outside the range ``datetime`` can represent. Memoized:
    handoffs and window edges recur across queries, and the answer never changes.
    """
    try:
        first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if wall(first, zone) == naive:
            return first  # unique, or ambiguous and fold=0 is the first occurrence
        second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    except OverflowError:
        return None
    # Non-existent: fold=1 (offset after the change) lies before the jump, fold=0
    # (offset before it) after; the jump itself is the first instant reading >= naive.
    return _gap_end(naive, zone, min(first, second), max(first, second))


@lru_cache(maxsize=512)
def _gap_end(naive: datetime, zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first instant in (``before``, ``after``] whose wall clock reads ``naive`` or later."""
    low, high = before, after  # wall(low) < naive <= wall(high)
    while high - low > _TICK:
        middle = low + (high - low) / 2
        if wall(middle, zone) >= naive:
            high = middle
        else:
            low = middle
    return high
