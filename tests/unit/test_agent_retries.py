"""Agents wait out outages instead of dead-lettering, but a handler that keeps running
out of its deadline is a bug for the dead letters and the desk."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from engine import transient
from engine.agents.streams import HandlerTimeout, _with_retries
from engine.handlers.dispatching import ConcurrentUpdateError
from engine.metrics import Metrics


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transient, "_FIRST_DELAY_S", 0.0)
    monkeypatch.setattr(transient, "_MAX_DELAY_S", 0.0)


async def test_an_outage_longer_than_any_attempt_budget_is_waited_out() -> None:
    failures = 25  # far more than the six attempts agents once gave up after

    async def call() -> str:
        nonlocal failures
        if failures:
            failures -= 1
            raise RedisConnectionError("Error 111 connecting")
        return "handled"

    metrics = Metrics()
    assert await _with_retries(call, "intake", 5.0, metrics) == "handled"
    assert metrics.registry.get_sample_value("nightline_retries_total", {"part": "intake"}) == 25


async def test_a_handler_that_keeps_hanging_is_a_handler_timeout() -> None:
    calls = 0

    async def hang() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(60)

    with pytest.raises(HandlerTimeout):
        await _with_retries(hang, "intake", 0.01, Metrics(), timeouts_allowed=3)
    assert calls == 3


def test_a_dispatch_that_kept_changing_is_retried_not_dropped() -> None:
    assert transient.is_transient(ConcurrentUpdateError("d-1 changed 8 times"))
