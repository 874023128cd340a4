"""Events reach the app's producer under the topic's full name, keyed, encoded, and the
publish waits for the broker's acknowledgement (engine/adapters/kafka_publisher.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel

from engine.adapters.kafka_publisher import FaustPublisher
from engine.schemas.codec import encode


@dataclass
class Producer:
    sent: list[tuple[Any, ...]] = field(default_factory=list)
    acks: list[asyncio.Future[object]] = field(default_factory=list)

    async def send(self, *args: Any) -> asyncio.Future[object]:
        self.sent.append(args)
        ack: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


@dataclass
class App:
    producer: Producer


@dataclass
class Topic:
    app: App
    name: str

    def get_topic_name(self) -> str:
        return self.name


class Changed(BaseModel):
    dispatch_id: str
    version: int


def event() -> Changed:
    return Changed(dispatch_id="d-1", version=3)


async def test_an_event_is_sent_under_the_full_topic_name_and_waits_for_its_ack() -> None:
    producer = Producer()
    publisher = FaustPublisher({"dispatch.state": Topic(App(producer), "nl.dispatch.state")})
    sent = event()
    publishing = asyncio.ensure_future(publisher.publish("dispatch.state", "d-1", sent))
    await asyncio.sleep(0)
    assert not publishing.done()  # handed over, not acknowledged yet
    [(name, key, value, partition, timestamp, headers)] = producer.sent
    assert (name, key, partition, timestamp, headers) == (
        "nl.dispatch.state",
        b"d-1",
        None,
        None,
        None,
    )
    assert value == encode(sent)
    producer.acks[0].set_result(object())
    await publishing


async def test_a_caller_that_gives_up_does_not_cancel_the_send() -> None:
    producer = Producer()
    publisher = FaustPublisher({"audit": Topic(App(producer), "nl.audit")})
    publishing = asyncio.ensure_future(publisher.publish("audit", "d-1", event()))
    await asyncio.sleep(0)
    publishing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await publishing
    assert not producer.acks[0].cancelled()  # the record still goes out
