"""Shared retry / backoff policy for push providers (APNs, FCM).

The whole API is :class:`RetryPolicy` and :func:`with_retries`::

    policy = RetryPolicy(max_attempts=4, base_delay_s=0.2, max_delay_s=5.0)
    result = await with_retries(
        lambda attempt: send_once(...),       # one try; gets the 1-based attempt number
        policy,
        is_retryable=lambda r: r.status in (429, 500, 502, 503),
        retry_after=lambda r: r.retry_after,  # seconds the server asked for, or None
        retry_on=(httpx.TransportError,),     # exceptions that count as a failed try
    )

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
* exceptions listed in ``retry_on`` are retried like retryable results, and the
  last one is re-raised when the attempts are used up; others propagate at once;
* sleeping uses ``asyncio.sleep`` (injectable for tests): the event loop is
  never blocked.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["RetryPolicy", "with_retries"]

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


def _no_retry_after(_: object) -> float | None:
    return None


async def with_retries(
    call: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    is_retryable: Callable[[T], bool],
    retry_after: Callable[[T], float | None] = _no_retry_after,
    *,
    retry_on: tuple[type[BaseException], ...] = (),
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Run ``call(attempt)`` until it gives a non-retryable result or attempts run out."""
    attempt = 1
    while True:
        try:
            result = await call(attempt)
        except retry_on:
            if attempt >= policy.max_attempts:
                raise
            await sleep(policy.backoff_s(attempt))
            attempt += 1
            continue
        if attempt >= policy.max_attempts or not is_retryable(result):
            return result
        delay = policy.delay_s(attempt, retry_after(result))
        if delay is None:
            return result
        await sleep(delay)
        attempt += 1
