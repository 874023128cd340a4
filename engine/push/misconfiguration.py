"""Telling a configuration error from dead devices.

A wrong APNs topic, key or environment, or an FCM token of another Firebase
project, makes the provider refuse every push, often with an answer that reads like
a dead device. Deactivating on it would switch off every phone at its first page,
and fixing the setting would not bring them back. Two tools here:

* :class:`DeactivationGuard`: when one provider answers "device gone" more than
  ``burst`` times within ``window_s``, and for more than ``fraction`` of the pushes it
  answered in that window, deactivation pauses for ``pause_s``: thousands of phones
  do not uninstall the app in the same minute, but a sandbox token sent to
  production (or the reverse) is refused exactly like that.
* :class:`OncePer`: lets a loud log line through once per key per interval, so a
  provider refusing every push logs once a minute, not once a push.

Pure state with an injected monotonic clock; counts are kept in one-second buckets,
so the cost per push does not grow with the push rate.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["Burst", "DeactivationGuard", "OncePer"]


@dataclass(frozen=True)
class Burst:
    """What tripped the guard: ``gone`` of ``answered`` pushes within ``window_s``."""

    provider: str
    gone: int
    answered: int
    window_s: float


@dataclass
class _Window:
    buckets: deque[list[int]]  # [second, answered, gone], oldest first
    answered: int = 0
    gone: int = 0
    paused_until: float = float("-inf")


class DeactivationGuard:
    """Decides per provider whether a "device gone" answer may deactivate a device."""

    def __init__(
        self,
        burst: int = 5,
        fraction: float = 0.5,
        window_s: float = 60.0,
        pause_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 0 or not 0 <= fraction < 1 or window_s <= 0 or pause_s <= 0:
            raise ValueError("need burst >= 0, 0 <= fraction < 1, window_s > 0 and pause_s > 0")
        self._burst, self._fraction = burst, fraction
        self._window_s, self._pause_s, self._clock = window_s, pause_s, clock
        self._windows: dict[str, _Window] = {}

    def record(self, provider: str, gone: bool) -> Burst | None:
        """Count one answer of ``provider``; the burst when this answer starts a pause."""
        now = self._clock()
        window = self._windows.setdefault(provider, _Window(deque()))
        self._forget_before(window, now - self._window_s)
        second = int(now)
        if not window.buckets or window.buckets[-1][0] != second:
            window.buckets.append([second, 0, 0])
        bucket = window.buckets[-1]
        bucket[1] += 1
        bucket[2] += gone
        window.answered += 1
        window.gone += gone
        burst = window.gone > self._burst and window.gone > self._fraction * window.answered
        if not burst:
            return None
        starts = now >= window.paused_until
        window.paused_until = now + self._pause_s
        return Burst(provider, window.gone, window.answered, self._window_s) if starts else None

    def paused(self, provider: str) -> bool:
        """Whether deactivation is paused for ``provider`` now."""
        window = self._windows.get(provider)
        return window is not None and self._clock() < window.paused_until

    @staticmethod
    def _forget_before(window: _Window, cutoff: float) -> None:
        while window.buckets and window.buckets[0][0] + 1 <= cutoff:
            _, answered, gone = window.buckets.popleft()
            window.answered -= answered
            window.gone -= gone


class OncePer:
    """``allow(key)`` is True at most once per ``interval_s`` for each key."""

    def __init__(self, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self._interval_s, self._clock = interval_s, clock
        self._last: dict[Hashable, float] = {}

    def allow(self, key: Hashable) -> bool:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval_s:
            return False
        self._last[key] = now
        return True
