"""The burst guard that tells a misconfigured provider from dead devices, and the
once-a-minute gate of loud logs, on an injected clock."""

from __future__ import annotations

import pytest

from engine.push.misconfiguration import Burst, DeactivationGuard, OncePer


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def guard(clock: Clock) -> DeactivationGuard:
    return DeactivationGuard(burst=3, fraction=0.5, window_s=60, pause_s=600, clock=clock)


def test_a_few_dead_devices_are_deactivated(guard: DeactivationGuard) -> None:
    results = [guard.record("apns", gone=True) for _ in range(3)]
    assert results == [None, None, None] and not guard.paused("apns")


def test_more_than_burst_gone_answers_pause_deactivation(
    guard: DeactivationGuard, clock: Clock
) -> None:
    for _ in range(3):
        guard.record("apns", gone=True)
        clock.t += 1
    assert guard.record("apns", gone=True) == Burst("apns", gone=4, answered=4, window_s=60)
    assert guard.paused("apns")
    assert guard.record("apns", gone=True) is None  # reported once, when it starts
    assert not guard.paused("fcm")  # per provider


def test_gone_answers_that_are_a_small_share_of_the_traffic_do_not_pause(
    guard: DeactivationGuard,
) -> None:
    for _ in range(10):
        guard.record("fcm", gone=False)
    for _ in range(9):  # 9 of 19 answers: under half
        assert guard.record("fcm", gone=True) is None
    assert not guard.paused("fcm")
    assert guard.record("fcm", gone=True) is None  # 10 of 20: still not more than half
    assert guard.record("fcm", gone=True) is not None  # 11 of 21


def test_answers_older_than_the_window_are_forgotten(
    guard: DeactivationGuard, clock: Clock
) -> None:
    for _ in range(3):
        guard.record("apns", gone=True)
    clock.t += 61
    assert guard.record("apns", gone=True) is None  # one in the window, not four
    assert not guard.paused("apns")


def test_the_pause_lasts_from_the_last_burst_answer(guard: DeactivationGuard, clock: Clock) -> None:
    for _ in range(4):
        guard.record("apns", gone=True)
    clock.t += 599
    assert guard.paused("apns")
    clock.t += 1
    assert not guard.paused("apns")
    for _ in range(4):  # a new burst pauses again, and says so again
        result = guard.record("apns", gone=True)
    assert result is not None and guard.paused("apns")


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        DeactivationGuard(fraction=1.0)
    with pytest.raises(ValueError):
        DeactivationGuard(window_s=0)


def test_once_per_interval_and_key(clock: Clock) -> None:
    gate = OncePer(60, clock=clock)
    assert gate.allow(("apns", "BadTopic"))
    assert not gate.allow(("apns", "BadTopic"))
    assert gate.allow(("fcm", "SENDER_ID_MISMATCH"))
    clock.t += 59.9
    assert not gate.allow(("apns", "BadTopic"))
    clock.t += 0.1
    assert gate.allow(("apns", "BadTopic"))
