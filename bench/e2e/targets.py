"""Issue 9's targets, checked against a full run's results (not against ``--quick``).

* at least 1,000 urgent calls/s sustained (a step that did not fail) with call -> push
  p99 under 100 ms;
* no step pushed a page twice to a device;
* spread timers: due -> next page p99 under 250 ms;
* at most 1.05 timer firings per timer that came due;
* a worker SIGKILLed under load: every call pushed, no page pushed twice to a device.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["check_targets"]

RATE_PER_S, RATE_P99_S = 1000.0, 0.100
TIMER_P99_S, FIRINGS_PER_TIMER = 0.250, 1.05


def check_targets(result: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """``(target, met)`` for every target whose scenario ran."""
    checks: list[tuple[str, bool]] = []
    for run in result.get("steps", []):
        fast = [
            s["achieved_per_s"]
            for s in run["steps"]
            if not s["failure"]
            and s["latency_s"]["p99"] is not None
            and s["latency_s"]["p99"] < RATE_P99_S
        ]
        best = max(fast, default=0.0)
        who = f"{run['workers']} worker(s)"
        checks.append((f"{who}: {best:,.0f} calls/s with p99 < 100 ms (>= 1,000)",
                       best >= RATE_PER_S))  # fmt: skip
        repeated = sum(s["duplicates"] for s in run["steps"])
        checks.append((f"{who}: {repeated} repeated pushes (0)", repeated == 0))
    timers = result.get("timers")
    if timers:
        p99 = timers["spread"]["lateness_s"]["p99"]
        shown = "-" if p99 is None else f"{p99 * 1000:.0f} ms"
        checks.append((f"spread timers: lateness p99 {shown} (< 250 ms)",
                       p99 is not None and p99 < TIMER_P99_S))  # fmt: skip
        per = timers["firings_per_timer"]
        checks.append((f"timer firings per timer {per if per is None else round(per, 3)} "
                       "(<= 1.05)", per is not None and per <= FIRINGS_PER_TIMER))  # fmt: skip
    crash = result.get("crash")
    if crash:
        lost, twice = crash["missing"], crash["duplicates"]
        checks.append((f"crash under load: {lost} calls not pushed, {twice} repeated pushes "
                       "(0, 0)", lost == 0 and twice == 0))  # fmt: skip
    return checks
