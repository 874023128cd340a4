"""Which failures are transient, and how they are retried (engine/transient.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NotLeaderForPartitionError,
    UnsupportedCodecError,
)
from faust.exceptions import NotReady, ProducerSendError
from redis.exceptions import BusyLoadingError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine import transient
from engine.transient import is_transient, retry_transient


def _wrapped(cause: Exception) -> ProducerSendError:
    """What faust raises when aiokafka's send fails: a ProducerSendError from the cause."""
    try:
        raise ProducerSendError(f"Error while sending: {cause!r}") from cause
    except ProducerSendError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RedisConnectionError("Error 111 connecting"), True),
        (RedisTimeoutError("Timeout reading from socket"), True),
        (BusyLoadingError("Redis is loading the dataset in memory"), True),
        (ConnectionResetError(104, "reset"), True),
        (OSError(113, "No route to host"), True),
        (TimeoutError(), True),
        (KafkaConnectionError(), True),
        (KafkaTimeoutError(), True),
        (NotLeaderForPartitionError(), True),
        (ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), False),
        (UnsupportedCodecError(), False),
        (ValueError("bad"), False),
        (KeyError("x"), False),
        (NotReady("the producer is not started"), True),
        (_wrapped(KafkaTimeoutError()), True),  # metadata not there yet, buffer full
        (_wrapped(UnsupportedCodecError()), False),
        (ProducerSendError("no transaction producer"), False),
    ],
)
def test_is_transient(exc: BaseException, expected: bool) -> None:
    assert is_transient(exc) is expected


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transient, "_FIRST_DELAY_S", 0.001)
    monkeypatch.setattr(transient, "_MAX_DELAY_S", 0.002)


class Flaky:
    """Fails with the given errors, one per call, then returns 'done'."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


async def test_transient_failures_are_retried_until_the_call_succeeds() -> None:
    call = Flaky(RedisConnectionError("down"), KafkaConnectionError())
    retries: list[int] = []
    result = await retry_transient(
        call, part="intake", attempts=6, on_retry=lambda: retries.append(1)
    )
    assert result == "done"
    assert call.calls == 3
    assert len(retries) == 2


async def test_the_last_transient_failure_is_raised_after_the_attempts() -> None:
    call = Flaky(*[RedisTimeoutError(f"timeout {i}") for i in range(5)])
    with pytest.raises(RedisTimeoutError, match="timeout 2"):
        await retry_transient(call, part="intake", attempts=3)
    assert call.calls == 3


async def test_other_failures_are_raised_at_once() -> None:
    call = Flaky(ResponseError("WRONGTYPE"), RedisConnectionError("down"))
    with pytest.raises(ResponseError):
        await retry_transient(call, part="timer_scan", attempts=None)
    assert call.calls == 1


async def test_without_attempts_it_retries_until_it_succeeds() -> None:
    call = Flaky(*[RedisConnectionError("down") for _ in range(25)])
    assert await retry_transient(call, part="timer_scan", attempts=None) == "done"
    assert call.calls == 26


async def test_an_attempt_past_its_deadline_is_a_transient_failure() -> None:
    attempts = 0

    async def hangs_once() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await asyncio.Event().wait()  # never set: only the deadline ends it
        return "done"

    assert await retry_transient(hangs_once, part="acks", attempts=2, deadline_s=0.05) == "done"
    assert attempts == 2


async def test_every_attempt_past_its_deadline_raises_timeout() -> None:
    async def hangs() -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError):
        await retry_transient(hangs, part="acks", attempts=2, deadline_s=0.02)


async def test_retry_log_lines_name_the_part_and_type_never_the_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    call = Flaky(RedisConnectionError("Error for Synthetic Patient +1 555 0142"))
    with caplog.at_level(logging.WARNING, logger="engine.transient"):
        await retry_transient(call, part="intake", attempts=2)
    text = caplog.text
    assert "intake: transient ConnectionError, retrying" in text
    assert "Synthetic" not in text and "555" not in text
