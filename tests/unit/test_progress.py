"""Stalls and readiness from progress marks (engine/progress.py), on a moved clock."""

from __future__ import annotations

import pytest

from engine.progress import Progress, Stall

LIMIT = 30.0
INTAKE = "nl.intake"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def progress(clock: Clock) -> Progress:
    p = Progress(LIMIT, clock=clock)
    p.watch_agent(INTAKE, "intake")
    p.watch_agent("nl.acks", "acks")
    p.watch_task("timer_scan")
    return p


def parts(progress: Progress) -> list[str]:
    return [stall.part for stall in progress.stalls()]


def test_an_idle_worker_is_never_stalled(progress: Progress, clock: Clock) -> None:
    for _ in range(10):
        clock.advance(LIMIT)
        progress.task_completed("timer_scan")
    assert progress.stalls() == []


def test_an_event_in_flight_past_the_limit_stalls_its_agent(
    progress: Progress, clock: Clock
) -> None:
    with progress.handling(INTAKE, 0, 41):
        clock.advance(LIMIT - 1)
        progress.task_completed("timer_scan")
        assert progress.stalls() == []
        clock.advance(2)
        progress.task_completed("timer_scan")
        assert progress.stalls() == [Stall("intake", "agent", LIMIT + 1)]
    assert progress.stalls() == []


def test_delivered_events_the_agent_never_takes_stall_it(progress: Progress, clock: Clock) -> None:
    progress.delivered(INTAKE, 1, 7)
    progress.delivered(INTAKE, 1, 8)
    clock.advance(LIMIT + 1)
    progress.task_completed("timer_scan")
    assert parts(progress) == ["intake"]


def test_a_steady_backlog_with_events_finishing_is_not_a_stall(
    progress: Progress, clock: Clock
) -> None:
    for offset in range(100):
        progress.delivered(INTAKE, 0, offset + 50)  # always far ahead of the agent
        with progress.handling(INTAKE, 0, offset):
            clock.advance(LIMIT / 4)
        progress.task_completed("timer_scan")
        assert progress.stalls() == []


def test_the_first_event_after_a_long_quiet_spell_is_not_a_stall(
    progress: Progress, clock: Clock
) -> None:
    with progress.handling(INTAKE, 0, 1):
        pass
    clock.advance(10 * LIMIT)
    progress.task_completed("timer_scan")
    progress.delivered(INTAKE, 0, 2)
    assert progress.stalls() == []


def test_a_handler_that_raises_leaves_its_event_unfinished(
    progress: Progress, clock: Clock
) -> None:
    with pytest.raises(RuntimeError), progress.handling(INTAKE, 0, 5):
        raise RuntimeError("escaped the agent")
    clock.advance(LIMIT + 1)
    progress.task_completed("timer_scan")
    assert parts(progress) == ["intake"]


def test_a_rebalance_drops_the_backlog_but_not_the_event_in_flight(
    progress: Progress, clock: Clock
) -> None:
    progress.delivered("nl.acks", 0, 3)  # buffered, dropped by the rebalance
    with progress.handling(INTAKE, 0, 9):
        progress.rebalance_started()
        progress.rebalance_finished()
        clock.advance(LIMIT + 1)
        progress.task_completed("timer_scan")
        assert parts(progress) == ["intake"]
    with progress.handling("nl.acks", 1, 0):  # after the rebalance, on another partition
        pass
    assert progress.stalls() == []


def test_consuming_follows_the_rebalances(progress: Progress) -> None:
    assert progress.consuming is False
    progress.rebalance_started()
    assert progress.consuming is False
    progress.rebalance_finished()
    assert progress.consuming is True
    progress.rebalance_started()
    assert progress.consuming is False


def test_a_timer_scan_that_does_not_complete_stalls(progress: Progress, clock: Clock) -> None:
    clock.advance(LIMIT - 1)
    progress.task_completed("timer_scan")
    clock.advance(LIMIT - 1)
    assert progress.stalls() == []
    clock.advance(2)
    assert progress.stalls() == [Stall("timer_scan", "task", LIMIT + 1)]


def test_marks_for_unwatched_topics_and_tasks_are_ignored(progress: Progress, clock: Clock) -> None:
    progress.delivered("nl.__assignor-__leader", 0, 1)
    with progress.handling("nl.other", 0, 1):
        pass
    progress.task_completed("gauges")
    clock.advance(LIMIT + 1)
    assert parts(progress) == ["timer_scan"]
    assert progress.parts() == ["intake", "acks", "timer_scan"]
