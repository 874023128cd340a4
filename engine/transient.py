"""Transient failures, and retrying them with backoff and a deadline per attempt.

A failure is transient when trying again later can succeed without anything
changing on our side: Redis or Kafka unreachable or slow, a connection reset, a
deadline passed. Every such failure is retried here; anything else (a bug, a
Redis error reply) is raised at once. Neither agents nor periodic tasks give up on
an outage (an event waits, it is never dead-lettered because Redis was away);
liveness reports them once they stop completing.

Log lines name the part (a closed set: agent or task names) and the exception
type, never its text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import KafkaError, KafkaTimeoutError
from faust.exceptions import NotReady, ProducerSendError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["is_transient", "retry_transient"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_FIRST_DELAY_S = 0.2
_MAX_DELAY_S = 5.0


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying unchanged (network, timeouts, a restarting server)."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError | TimeoutError):
        return True  # includes Redis LOADING (BusyLoadingError) and asyncio deadlines
    if isinstance(exc, KafkaTimeoutError) or getattr(exc, "transient", False) is True:
        return True  # or a failure of ours that declares itself worth another try
    if isinstance(exc, NotReady):
        return True  # faust's producer is not started yet (or no longer): a moment later
    if isinstance(exc, ProducerSendError):  # faust's wrapper of aiokafka's send error
        return exc.__cause__ is not None and is_transient(exc.__cause__)
    return isinstance(exc, KafkaError) and exc.retriable


async def retry_transient(
    call: Callable[[], Awaitable[T]],
    *,
    part: str,
    attempts: int | None,
    deadline_s: float | None = None,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """Await ``call()``, retrying transient failures with exponential backoff.

    ``attempts`` None retries until it succeeds (or the task is cancelled); else the
    last transient failure is raised. Each attempt gets ``deadline_s`` seconds; one
    that runs out counts as a transient failure. ``on_retry`` runs before each wait.
    """
    delay = _FIRST_DELAY_S
    attempt = 0
    while True:
        attempt += 1
        try:
            async with asyncio.timeout(deadline_s):
                return await call()
        except Exception as exc:
            if not is_transient(exc) or (attempts is not None and attempt >= attempts):
                raise
            if on_retry is not None:
                on_retry()
            log.warning("%s: transient %s, retrying in %.1fs", part, type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY_S)
