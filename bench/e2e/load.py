"""A paced producer of synthetic intake events (aiokafka, batched with linger), which
records when it sent each call.

Events are the synthetic samples of :mod:`engine.samples` (a new event id, and
``received_at`` = the send time, filled into the encoded sample), keyed by practice as
the topic catalogue says. Sending does not wait for the
broker: records are batched (``linger_ms``) and every acknowledgement is awaited once
the rate's last record is sent, so the producer can offer thousands per second.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from engine.handlers.intake import dispatch_id_for
from engine.samples import sample_event
from engine.schemas.codec import encode

__all__ = ["CallPicker", "Producer", "Sent", "call_message"]

_TICK_S = 0.005

CallPicker = Callable[[int], tuple[str, str]]
"""For the ``n``-th call: its kind (``urgent`` / ``routine``) and practice id."""


@dataclass
class Sent:
    """Dispatch id -> when its intake event was handed to the producer (epoch s)."""

    sent_at: dict[str, float] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    @property
    def first(self) -> float:
        return min(self.sent_at.values())

    @property
    def last(self) -> float:
        return max(self.sent_at.values())

    def rate(self) -> float:
        """Calls per second as sent (the offered rate)."""
        span = self.last - self.first
        return (len(self.sent_at) - 1) / span if span > 0 else float(len(self.sent_at))

    def of_kind(self, kind: str) -> dict[str, float]:
        return {d: t for d, t in self.sent_at.items() if self.kinds[d] == kind}


_TEMPLATE_ID = uuid.UUID("0badcafe-0000-4000-8000-00000000beef")
_TEMPLATE_AT = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)


@functools.cache
def _template(kind: str, practice_id: str) -> tuple[str, str, str]:
    """The encoded sample event of ``kind`` with a placeholder id and time, and the
    placeholders' text in it (validating and encoding each call would cost the
    producer a tenth of a millisecond)."""
    text = encode(sample_event(kind, practice_id, _TEMPLATE_AT, event_id=_TEMPLATE_ID)).decode()
    return text, str(_TEMPLATE_ID), json.loads(text)["received_at"]


def call_message(kind: str, practice_id: str) -> tuple[str, bytes]:
    """A new synthetic call (a new event id, received now): its dispatch id and the
    encoded intake event."""
    text, placeholder_id, placeholder_at = _template(kind, practice_id)
    event_id = uuid.uuid4()
    value = (
        text.replace(placeholder_id, str(event_id))
        .replace(f"call-{_TEMPLATE_ID.hex[:8]}", f"call-{event_id.hex[:8]}")
        .replace(placeholder_at, datetime.now(UTC).isoformat())
    )
    return dispatch_id_for(event_id), value.encode()


class Producer:
    """One aiokafka producer for a deployment's topics."""

    def __init__(self, servers: str, linger_ms: int = 5) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=servers, linger_ms=linger_ms, max_batch_size=256 * 1024
        )

    async def __aenter__(self) -> Producer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, topic: str, key: str, value: bytes) -> asyncio.Future[object]:
        """Queue one record; the future ends with the broker's acknowledgement."""
        future: asyncio.Future[object] = await self._producer.send(
            topic, value=value, key=key.encode()
        )
        return future

    async def calls(self, topic: str, count: int, rate: float, pick: CallPicker) -> Sent:
        """Send ``count`` calls at ``rate`` per second (as evenly as the loop allows);
        returns once the broker acknowledged them all."""
        sent = Sent()
        acks: list[asyncio.Future[object]] = []
        start = time.monotonic()
        n = 0
        while n < count:
            due = min(count, int((time.monotonic() - start) * rate) + 1)
            while n < due:
                kind, practice_id = pick(n)
                dispatch_id, value = call_message(kind, practice_id)
                sent.sent_at[dispatch_id] = time.time()
                sent.kinds[dispatch_id] = kind
                acks.append(await self.send(topic, practice_id, value))
                n += 1
            await asyncio.sleep(_TICK_S)
        await asyncio.gather(*acks)
        return sent
