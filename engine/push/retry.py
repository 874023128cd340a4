"""Shared retry / backoff policy for push providers (APNs, FCM).

The API is :class:`RetryPolicy` and :func:`with_retries`::

    policy = RetryPolicy(max_attempts=4, base_delay_s=0.2, max_delay_s=5.0)
    result = await with_retries(
        lambda attempt: send_once(...),       # one try; gets the 1-based attempt number
        policy,
        is_retryable=lambda r: is_retryable_status(r.status),
        retry_after=lambda r: r.retry_after,  # seconds the server asked for, or None
    )

plus two helpers both providers share: :func:`is_retryable_status` (which HTTP
statuses are provider trouble worth retrying) and :func:`parse_retry_after` (the
``Retry-After`` header in seconds).

Rules:

* at most ``max_attempts`` calls; the last result is returned as is (the
  caller decides what a non-retryable or final failure means);
* between tries the delay is exponential, ``base_delay_s * 2**(n-1)`` capped
  at ``max_delay_s``, with "equal jitter" (a random value in the upper half) so
  many workers do not retry in lock step;
* a server's Retry-After is honoured: the delay is at least that long. When it
  asks for more than ``max_delay_s`` the result is returned instead of
  sleeping, so an urgent dispatch is never parked for minutes inside one send
  (escalation decides what to do next);
* ``call`` reports failures as results (a status, an error code), not exceptions:
  an exception from ``call`` propagates at once, without a retry;
* sleeping uses ``asyncio.sleep`` (injectable for tests): the event loop is
  never blocked.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TypeVar

__all__ = ["RetryPolicy", "is_retryable_status", "parse_retry_after", "with_retries"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry one push."""

    max_attempts: int = 4
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("delays must be >= 0")

    def backoff_s(self, attempt: int) -> float:
        """Delay after failed try ``attempt`` (1-based), jittered, without Retry-After."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def delay_s(self, attempt: int, retry_after_s: float | None) -> float | None:
        """Delay before the next try, or None when Retry-After is beyond ``max_delay_s``."""
        backoff = self.backoff_s(attempt)
        if retry_after_s is None:
            return backoff
        if retry_after_s > self.max_delay_s:
            return None
        return max(retry_after_s, backoff)


def is_retryable_status(status: int) -> bool:
    """Provider trouble worth retrying: no response at all (0), 429, or any 5xx."""
    return status == 0 or status == 429 or status >= 500


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header, never negative; None when absent or unreadable.

    A number first (delta-seconds; decimals such as ``0.6`` are accepted too), else an
    HTTP-date. A date without a usable zone (``-0000``, which ``email.utils`` returns
    as a naive datetime) is read as UTC, as HTTP-dates always are, never as local time.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


def _no_retry_after(_: object) -> float | None:
    return None


async def with_retries(
    call: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    is_retryable: Callable[[T], bool],
    retry_after: Callable[[T], float | None] = _no_retry_after,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Run ``call(attempt)`` until it gives a non-retryable result or attempts run out.

    ``call`` returns failures as results; an exception it raises is not retried.
    """
    attempt = 1
    while True:
        result = await call(attempt)
        if attempt >= policy.max_attempts or not is_retryable(result):
            return result
        delay = policy.delay_s(attempt, retry_after(result))
        if delay is None:
            return result
        await sleep(delay)
        attempt += 1
