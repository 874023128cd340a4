"""A small synchronous producer for telephony integrators (kafka-python).

    from engine.producer import NightlineProducer
    with NightlineProducer("kafka:9092") as producer:
        producer.send_intake(VoiceCall(...))

Events are validated before they are sent, keyed as the topic catalogue says,
and the producer is idempotent with ``acks=all`` (kafka-python's defaults).
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from engine.schemas.acks import Acknowledgement
from engine.schemas.audit import AuditEvent
from engine.schemas.catalogue import CATALOGUE
from engine.schemas.codec import encode
from engine.schemas.devices import DeviceRegistration
from engine.schemas.dispatch import CancelDispatch
from engine.schemas.intake import IntakeEvent

__all__ = ["NightlineProducer", "ensure_topics"]


class NightlineProducer:
    def __init__(
        self, bootstrap_servers: str, topic_prefix: str = "nightline", **kafka_options: Any
    ) -> None:
        self._prefix = topic_prefix
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers, acks="all", linger_ms=0, **kafka_options
        )

    def send_intake(self, event: IntakeEvent, timeout_s: float = 10.0) -> None:
        self._send("intake", event.practice_id, encode(event), timeout_s)

    def send_ack(self, ack: Acknowledgement, timeout_s: float = 10.0) -> None:
        self._send("acks", ack.dispatch_id, encode(ack), timeout_s)

    def send_device(self, change: DeviceRegistration, timeout_s: float = 10.0) -> None:
        self._send("devices", change.clinician_id, encode(change), timeout_s)

    def send_cancel(self, command: CancelDispatch, timeout_s: float = 10.0) -> None:
        self._send("dispatch.commands", command.dispatch_id, encode(command), timeout_s)

    def send_audit(self, event: AuditEvent, timeout_s: float = 10.0) -> None:
        """An audit entry of a change made outside the engine (accounts, API keys)."""
        self._send("audit", event.subject_id, encode(event), timeout_s)

    def send_raw(self, topic: str, key: str, value: bytes, timeout_s: float = 10.0) -> None:
        """Send bytes as they are (for tests of the dead-letter path)."""
        self._send(topic, key, value, timeout_s)

    def _send(self, topic: str, key: str, value: bytes, timeout_s: float) -> None:
        future = self._producer.send(f"{self._prefix}.{topic}", key=key.encode(), value=value)
        future.get(timeout=timeout_s)

    def close(self) -> None:
        self._producer.close()

    def __enter__(self) -> NightlineProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def ensure_topics(
    bootstrap_servers: str, topic_prefix: str, partitions: int, replication: int
) -> list[str]:
    """Create every catalogue topic that does not exist yet; return the ones created."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name=f"{topic_prefix}.{spec.name}",
                num_partitions=spec.partitions or partitions,
                replication_factor=replication,
                topic_configs=spec.configs(),
            )
            for spec in CATALOGUE
            if f"{topic_prefix}.{spec.name}" not in existing
        ]
        if not wanted:
            return []
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics(wanted)
        return [t.name for t in wanted]
    finally:
        admin.close()
