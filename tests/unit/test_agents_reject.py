"""The stream agents' rejection path on the fakes, with a stand-in for the Faust app: an
intake record that cannot be dispatched reaches the desk first and the dead letters
second, and neither keeps the other from happening."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet

from engine.adapters.dead_letters import KEEP_BYTES, DeadLetterWriter
from engine.agents.streams import register_agents
from engine.progress import Progress
from engine.settings import Settings
from tests.unit.handler_world import World


class StandInApp:
    """Just enough of ``faust.App`` for ``register_agents``: it keeps the agents."""

    def __init__(self) -> None:
        self.agents: dict[str, Callable[[Any], Any]] = {}

    def agent(self, topic: str, concurrency: int = 1) -> Callable[[Any], Any]:
        def keep(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
            self.agents[topic] = fn
            return fn

        return keep


class Record:
    def __init__(self, value: bytes, offset: int) -> None:
        self.value, self.topic, self.partition, self.offset = value, "nl.intake", 0, offset
        self.message = self


class Stream:
    def __init__(self, *values: bytes) -> None:
        self.values = values
        self.acked: list[Record] = []

    def noack(self) -> Stream:
        return self

    async def ack(self, record: Record) -> None:
        self.acked.append(record)

    async def events(self) -> AsyncIterator[Record]:
        for offset, value in enumerate(self.values, start=40):
            yield Record(value, offset)


def agents(w: World, settings: Settings) -> tuple[StandInApp, DeadLetterWriter]:
    app = StandInApp()
    letters = DeadLetterWriter(w.publisher, Fernet.generate_key())
    topics = {name: name for name in ("intake", "acks", "devices", "dispatch.commands")}
    register_agents(app, topics, w.svc, letters, settings, Progress(120))  # type: ignore[arg-type]
    return app, letters


@pytest.fixture()
def settings(tmp_path: Any) -> Settings:
    return Settings(state_dir=tmp_path, topic_prefix="nl", handler_timeout_s=5)


async def test_an_oversize_record_reaches_the_desk_and_a_bounded_dead_letter(
    settings: Settings,
) -> None:
    w = World()
    app, letters = agents(w, settings)
    event_id = uuid.uuid4()
    huge = json.dumps({"practice_id": "p-1", "event_id": str(event_id), "message": "x" * 900_000})
    await app.agents["intake"](Stream(huge.encode()))
    [alert] = w.desk_alerts()
    assert (alert.desk_id, alert.reason_code, alert.source_offset) == ("desk-9", "oversize", 40)
    assert alert.intake_event_id == event_id
    [letter] = w.publisher.on("deadletter")
    assert letter.raw_truncated and letter.raw_size == len(huge)
    assert letters.decrypt(letter) == huge.encode()[:KEEP_BYTES]


async def test_a_dead_letter_that_cannot_be_written_does_not_keep_the_desk_from_knowing(
    settings: Settings,
) -> None:
    w = World()
    real = w.publisher.publish

    async def refuse_dead_letters(topic: str, key: str, event: Any) -> None:
        if topic == "deadletter":
            raise ValueError("the broker refused the record")  # not transient: no retry
        await real(topic, key, event)

    w.publisher.publish = refuse_dead_letters  # type: ignore[method-assign]
    app, _ = agents(w, settings)
    with pytest.raises(ValueError):  # the worker restarts; the record comes again
        await app.agents["intake"](Stream(b"{not json"))
    assert [a.reason_code for a in w.desk_alerts()] == ["invalid_json"]


async def test_every_intake_rejection_alerts_the_desk_once_per_record(settings: Settings) -> None:
    w = World()
    app, _ = agents(w, settings)
    unknown = json.dumps({"practice_id": "p-nowhere", "event_id": str(uuid.uuid4())}).encode()
    stream = Stream(b"{not json", unknown, b"[1, 2]")
    await app.agents["intake"](stream)
    assert [r.offset for r in stream.acked] == [40, 41, 42]  # each once handled, in order
    assert [(a.reason_code, a.source_offset) for a in w.desk_alerts()] == [
        ("invalid_json", 40),
        ("schema_violation", 41),
        ("schema_violation", 42),
    ]
    assert len(w.publisher.on("deadletter")) == 3


async def test_a_timer_firing_that_fails_in_the_engine_alerts_the_practice_desk(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.handlers import commands
    from engine.schemas.codec import encode
    from engine.schemas.dispatch import FireAckTimer

    w = World()
    dispatch_id = await w.urgent_call()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in the decision")

    monkeypatch.setattr(commands, "on_ack_timeout", broken)
    app, _ = agents(w, settings)
    now = w.clock.now()
    firing = FireAckTimer(dispatch_id=dispatch_id, step=0, page=1, due_at=now, fired_at=now)
    await app.agents["dispatch.commands"](Stream(encode(firing)))
    [alert] = w.desk_alerts()  # the call paged a clinician; this is the only alert
    assert (alert.desk_id, alert.related_dispatch_id, alert.reason_code) == (
        "desk-9",
        dispatch_id,
        "handler_error",
    )
    assert [d.reason_code for d in w.publisher.on("deadletter")] == ["handler_error"]
