"""Rate limits for repeated log lines, so an outage does not flood the logs.

While Kafka or Redis is away, our code and the libraries (aiokafka, faust, mode,
redis) log the same warning or error many times a second. :class:`RepeatFilter`
sits on a log handler and keys each WARNING-or-worse record by (logger, level,
message template): the first ``burst`` records of a key in a window pass, the rest
are counted, and when the window ends one summary line takes their place::

    Unable connect to node with id %s: %s ... repeated 4,512 times in the last 10 s

The first occurrence of every distinct template always passes, and INFO and DEBUG
are never limited. The summary names the template, never the arguments.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RepeatFilter", "install_repeat_filter"]

_SUMMARY_FLAG = "nightline_repeat_summary"


@dataclass
class _Window:
    started: float
    passed: int = 1
    suppressed: int = 0


_Key = tuple[str, int, str]


class RepeatFilter(logging.Filter):
    """Lets ``burst`` records per (logger, level, template) through per ``window_s``;
    hands a summary of the rest to ``emit`` once the window has ended."""

    def __init__(
        self,
        emit: Callable[[logging.LogRecord], object],
        *,
        burst: int = 5,
        window_s: float = 10.0,
        level: int = logging.WARNING,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._emit = emit
        self._burst = burst
        self._window_s = window_s
        self._level = level
        self._max_keys = max_keys
        self._clock = clock
        self._windows: dict[_Key, _Window] = {}
        self._next_sweep = 0.0
        self._lock = threading.Lock()  # aiokafka's consumer thread logs too

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _SUMMARY_FLAG, False):
            return True
        if record.levelno < self._level:
            if self._clock() >= self._next_sweep:
                self.flush()
            return True
        key = (record.name, record.levelno, str(record.msg))
        with self._lock:
            now = self._clock()
            due = self._take_due(now) if now >= self._next_sweep else []
            window = self._windows.get(key)
            if window is None:
                if len(self._windows) < self._max_keys:
                    self._windows[key] = _Window(now)
                passes = True
            elif window.passed < self._burst:
                window.passed += 1
                passes = True
            else:
                window.suppressed += 1
                passes = False
        self._emit_summaries(due)
        return passes

    def flush(self) -> None:
        """Summarise every window that has ended (call it about once a second)."""
        with self._lock:
            due = self._take_due(self._clock())
        self._emit_summaries(due)

    def _take_due(self, now: float) -> list[tuple[_Key, int]]:
        self._next_sweep = now + 1.0
        ended = [k for k, w in self._windows.items() if now - w.started >= self._window_s]
        due = []
        for key in ended:
            window = self._windows.pop(key)
            if window.suppressed:
                due.append((key, window.suppressed))
        return due

    def _emit_summaries(self, due: list[tuple[_Key, int]]) -> None:
        for (name, level, template), count in due:
            record = logging.LogRecord(
                name,
                level,
                __file__,
                0,
                "%s ... repeated %s times in the last %.0f s",
                (template, f"{count:,}", self._window_s),
                None,
            )
            setattr(record, _SUMMARY_FLAG, True)
            self._emit(record)


def install_repeat_filter(handler: logging.Handler) -> RepeatFilter:
    """Put a :class:`RepeatFilter` on ``handler``; summaries go out through it too."""
    repeat_filter = RepeatFilter(handler.handle)
    handler.addFilter(repeat_filter)
    return repeat_filter
