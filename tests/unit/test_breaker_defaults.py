"""The circuit breaker's defaults, which every deployed gateway uses: open after five
provider failures in a row, half-open after 30 s."""

from __future__ import annotations

from engine.push.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_default_threshold_is_five_failures_in_a_row() -> None:
    breaker = CircuitBreaker(clock=Clock())
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()


def test_default_cooldown_is_thirty_seconds() -> None:
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    for _ in range(5):
        breaker.record_failure()
    clock.now += 29.9
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 0.1
    assert breaker.state == "half-open" and breaker.allow()
