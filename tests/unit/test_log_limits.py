"""Repeated log lines are limited and summarised (engine/log_limits.py)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from engine.log_limits import RepeatFilter, install_repeat_filter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(name: str, level: int, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def summaries() -> list[logging.LogRecord]:
    return []


@pytest.fixture()
def limiter(clock: Clock, summaries: list[logging.LogRecord]) -> RepeatFilter:
    return RepeatFilter(summaries.append, burst=3, window_s=10.0, clock=clock)


def test_a_flood_of_one_error_passes_its_first_lines_then_a_summary(
    limiter: RepeatFilter, clock: Clock, summaries: list[logging.LogRecord]
) -> None:
    passed = 0
    for i in range(1000):
        clock.now = i * 0.005  # 1,000 errors in 5 s
        passed += limiter.filter(record("aiokafka", logging.ERROR, "node %s down: %s", 1, i))
    assert passed == 3
    assert summaries == []
    clock.now = 10.0
    limiter.flush()
    assert [s.getMessage() for s in summaries] == [
        "node %s down: %s ... repeated 997 times in the last 10 s"
    ]
    assert (summaries[0].name, summaries[0].levelno) == ("aiokafka", logging.ERROR)
    limiter.flush()
    assert len(summaries) == 1  # summarised once


def test_the_first_occurrence_of_every_distinct_error_passes(limiter: RepeatFilter) -> None:
    for _ in range(100):
        limiter.filter(record("aiokafka", logging.ERROR, "coordinator not ready"))
    assert limiter.filter(record("aiokafka", logging.ERROR, "connection refused"))
    assert limiter.filter(record("faust", logging.ERROR, "coordinator not ready"))
    assert limiter.filter(record("aiokafka", logging.WARNING, "coordinator not ready"))


def test_info_and_debug_are_never_limited(limiter: RepeatFilter) -> None:
    for level in (logging.INFO, logging.DEBUG):
        assert all(
            limiter.filter(record("engine", level, "dispatch %s sent", i)) for i in range(50)
        )


def test_a_new_window_lets_a_new_burst_through(limiter: RepeatFilter, clock: Clock) -> None:
    def burst() -> int:
        return sum(limiter.filter(record("mode", logging.WARNING, "timer late")) for _ in range(10))

    assert burst() == 3
    clock.now = 10.5
    assert burst() == 3


def test_no_summary_when_nothing_was_held_back(
    limiter: RepeatFilter, clock: Clock, summaries: list[logging.LogRecord]
) -> None:
    limiter.filter(record("redis", logging.ERROR, "gone"))
    limiter.filter(record("redis", logging.ERROR, "gone"))
    clock.now = 20.0
    limiter.flush()
    assert summaries == []


def test_a_later_record_also_brings_out_summaries_that_are_due(
    limiter: RepeatFilter, clock: Clock, summaries: list[logging.LogRecord]
) -> None:
    for _ in range(5):
        limiter.filter(record("redis", logging.ERROR, "gone"))
    clock.now = 11.0
    limiter.filter(record("engine", logging.INFO, "something else"))
    assert [s.getMessage() for s in summaries] == ["gone ... repeated 2 times in the last 10 s"]


@pytest.fixture()
def handler_output() -> Iterator[tuple[logging.Logger, io.StringIO, RepeatFilter]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    repeat_filter = install_repeat_filter(handler)
    root = logging.getLogger("test_log_limits_root")
    root.addHandler(handler)
    root.propagate = False
    yield root, stream, repeat_filter
    root.removeHandler(handler)


def test_on_a_handler_library_loggers_below_it_are_limited(
    handler_output: tuple[logging.Logger, io.StringIO, RepeatFilter],
) -> None:
    root, stream, _ = handler_output
    library = root.getChild("aiokafka.conn")  # propagates to the handler, as to root's
    for i in range(200):
        library.error("Unable connect to node with id %s: %s", 1, f"attempt {i}")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5
    assert all(line.startswith("ERROR test_log_limits_root.aiokafka.conn Unable") for line in lines)
