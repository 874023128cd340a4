"""The one Retry-After parser both push clients use, and the shared retryable-status rule."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from engine.push.retry import is_retryable_status, parse_retry_after


@pytest.fixture()
def local_time_utc_plus_9(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time 9 hours ahead of UTC (a POSIX TZ string: no tz database needed)."""
    monkeypatch.setenv("TZ", "NLT-9")
    time.tzset()
    try:
        yield
    finally:
        monkeypatch.undo()
        time.tzset()


def test_integer_seconds() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after("0") == 0.0


def test_decimal_seconds() -> None:
    assert parse_retry_after("0.6") == pytest.approx(0.6)
    assert parse_retry_after("1.25") == pytest.approx(1.25)


def test_never_negative() -> None:
    assert parse_retry_after("-3") == 0.0
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(past) == 0.0


def _seconds_until(date: datetime, header: str) -> tuple[float, float, float]:
    """(least possible, parsed, most possible) seconds from now until ``date``, with the
    clock read just before and just after parsing ``header``."""
    before = time.time()
    parsed = parse_retry_after(header)
    after = time.time()
    assert parsed is not None
    return date.timestamp() - after, parsed, date.timestamp() - before


def test_http_date() -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
    later = format_datetime(when, usegmt=True)
    assert later.endswith(" GMT")
    least, parsed, most = _seconds_until(when, later)
    assert least <= parsed <= most


def test_minus_0000_date_is_utc_not_local_time(local_time_utc_plus_9: None) -> None:
    assert time.timezone == -9 * 3600  # the TZ change took effect
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
    later = format_datetime(when.replace(tzinfo=None))  # naive: written with "-0000"
    assert later.endswith(" -0000")
    least, parsed, most = _seconds_until(when, later)  # read as local time: 9 h off
    assert least <= parsed <= most


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "nan", "inf", "Mon, 99 Foo 2024"])
def test_missing_or_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


@pytest.mark.parametrize(("status", "retryable"), [
    (0, True), (429, True), (500, True), (503, True), (599, True),
    (200, False), (400, False), (403, False), (410, False), (413, False),
])  # fmt: skip
def test_retryable_status(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable
