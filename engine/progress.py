"""Progress of a worker's agents and periodic tasks: what liveness and readiness report.

An agent is stalled when work has waited on it for longer than the stall limit
with nothing finished meanwhile: an event in flight that long, or events
delivered to its stream (fetched by the consumer) that it has not finished. A
watched periodic task (the timer scan) is stalled when it has not completed for
that long. The worker is consuming once a rebalance has ended with its partitions
assigned and the streams resumed, until the next rebalance starts.

Parts are named by closed sets (agent and task names), never by ids. Time is a
monotonic clock, injected so tests can move it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Progress", "Stall"]


@dataclass(frozen=True)
class Stall:
    """One part that has made no progress for ``seconds``."""

    part: str
    kind: Literal["agent", "task"]
    seconds: float


@dataclass
class _Agent:
    part: str
    delivered: dict[int, int] = field(default_factory=dict)  # partition -> highest offset
    done: dict[int, int] = field(default_factory=dict)  # partition -> highest finished
    in_flight_since: float | None = None  # records in flight, none finished since then
    in_flight: int = 0
    waiting_since: float | None = None  # work waiting, nothing finished since then

    def backlog(self) -> bool:
        return any(offset > self.done.get(p, -1) for p, offset in self.delivered.items())


class Progress:
    """Marks from the agents, the consumer and periodic tasks; stalls on demand."""

    def __init__(self, stall_limit_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_limit_s = stall_limit_s
        self._clock = clock
        self._agents: dict[str, _Agent] = {}  # by topic
        self._tasks: dict[str, float] = {}  # part -> last completion
        self.consuming = False

    def watch_agent(self, topic: str, part: str) -> None:
        self._agents[topic] = _Agent(part)

    def watch_task(self, part: str) -> None:
        self._tasks[part] = self._clock()

    # --- marks -------------------------------------------------------------------
    def delivered(self, topic: str, partition: int, offset: int) -> None:
        """The consumer handed a message of ``topic`` to its agent's stream."""
        agent = self._agents.get(topic)
        if agent is None:
            return
        agent.delivered[partition] = max(offset, agent.delivered.get(partition, -1))
        if agent.waiting_since is None and agent.backlog():
            agent.waiting_since = self._clock()

    @contextmanager
    def handling(self, topic: str, partition: int, offset: int) -> Iterator[None]:
        """Around one event of an agent (many may be in flight at once); finished only
        when the block ends normally."""
        self.delivered(topic, partition, offset)
        agent = self._agents.get(topic)
        if agent is None:
            yield
            return
        if agent.in_flight == 0:
            agent.in_flight_since = self._clock()
        agent.in_flight += 1
        try:
            yield
        finally:
            agent.in_flight -= 1
            agent.in_flight_since = self._clock() if agent.in_flight else None
        agent.done[partition] = max(offset, agent.done.get(partition, -1))
        agent.waiting_since = self._clock() if agent.backlog() else None

    def task_completed(self, part: str) -> None:
        if part in self._tasks:
            self._tasks[part] = self._clock()

    def rebalance_started(self) -> None:
        """Partitions move: forget what was delivered (buffers are dropped, then refetched)."""
        self.consuming = False
        for agent in self._agents.values():
            agent.delivered.clear()
            agent.done.clear()
            agent.waiting_since = None

    def rebalance_finished(self) -> None:
        self.consuming = True

    # --- reports -------------------------------------------------------------------
    def stalls(self) -> list[Stall]:
        now = self._clock()
        found: list[Stall] = []
        for agent in self._agents.values():
            since = [t for t in (agent.in_flight_since, agent.waiting_since) if t is not None]
            if since and now - min(since) > self.stall_limit_s:
                found.append(Stall(agent.part, "agent", round(now - min(since), 1)))
        for part, last in self._tasks.items():
            if now - last > self.stall_limit_s:
                found.append(Stall(part, "task", round(now - last, 1)))
        return found

    def parts(self) -> list[str]:
        """Every watched part (for metrics that show zeros too)."""
        return [agent.part for agent in self._agents.values()] + list(self._tasks)
