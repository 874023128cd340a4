"""Publish events to catalogue topics through the Faust producer, and the audit
sink on top of it. ``publish`` waits for the broker's acknowledgement, so an effect
is marked done only after its event is durable.

Events go straight to the app's producer (``app.producer.send``, what faust's own
``Topic.publish_message`` ends in), not through ``Topic.send``: the topics' channel and
``FutureMessage`` machinery cost more than the send itself (measured in a bare faust
app, two awaited publishes per record: about 0.3 ms of CPU this way, 0.6 ms through
``Topic.send``). The producer still lingers and batches concurrent sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from engine.schemas.audit import AuditEvent
from engine.schemas.codec import encode

__all__ = ["FaustPublisher", "TopicAuditSink"]


class FaustPublisher:
    """:class:`engine.ports.EventPublisher` over Faust topics (relative name -> topic)."""

    def __init__(self, topics: Mapping[str, Any]) -> None:
        self._topics = topics

    async def publish(self, topic: str, key: str, event: BaseModel) -> None:
        """Hand the event to the producer (which batches concurrent sends) and wait for the
        broker's acknowledgement. A caller that gives up (a deadline) stops waiting; the
        send itself is shielded, so it is not cancelled half-way (faust would log it)."""
        target = self._topics[topic]
        pending = await target.app.producer.send(
            target.get_topic_name(), key.encode(), encode(event), None, None, None
        )
        await asyncio.shield(pending)


class TopicAuditSink:
    """:class:`engine.ports.AuditSink` that appends to the audit topic."""

    def __init__(self, publisher: FaustPublisher) -> None:
        self._publisher = publisher

    async def record(self, event: BaseModel) -> None:
        assert isinstance(event, AuditEvent)
        await self._publisher.publish("audit", event.subject_id, event)
