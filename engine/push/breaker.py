"""A circuit breaker per push provider, so an outage fails fast instead of stalling.

When APNs or FCM is down, every send would spend its whole retry budget before
failing, and dispatches would queue behind it. After ``threshold`` consecutive
provider failures (timeouts, resets, 429, 5xx — not a dead token or a bad
request), the breaker opens: sends fail at once for ``cooldown_s``, so each
dispatch escalates straight away and, with every provider down, reaches the
operator desk in seconds. After the cooldown one trial send is let through
(half-open); its success closes the breaker, its failure re-opens it.

Pure state with an injected monotonic clock; no locking is needed on one event loop.
Small enough that a library (aiobreaker, purgatory) would add more than it saves.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["CircuitBreaker"]


class CircuitBreaker:
    """Closed -> open after ``threshold`` failures in a row -> half-open after ``cooldown_s``."""

    def __init__(
        self,
        threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or cooldown_s <= 0:
            raise ValueError("threshold must be >= 1 and cooldown_s > 0")
        self._threshold, self._cooldown_s, self._clock = threshold, cooldown_s, clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self._clock() - self._opened_at >= self._cooldown_s else "open"

    def allow(self) -> bool:
        """May a send go out now? In half-open state only one trial at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def record_success(self) -> None:
        self._failures, self._opened_at, self._trial_running = 0, None, False

    def record_failure(self) -> None:
        self._trial_running = False
        self._failures += 1
        if self._opened_at is not None or self._failures >= self._threshold:
            self._opened_at = self._clock()
