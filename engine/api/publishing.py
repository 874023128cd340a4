"""The API's Kafka producer: a request that must reach Kafka is answered only after the
broker has acknowledged the record.

aiokafka with ``acks=all`` and the idempotent producer, so a record the broker retries
internally is written once. A publish that cannot be acknowledged within the deadline
raises :class:`KafkaUnavailableError`; the route answers 503 with ``Retry-After``. Every
record a route publishes carries the producer's own event id, so a client's retry after
a 503 (when the first attempt did reach the broker after all) is a duplicate that the
worker drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from engine.failures import describe_failure

__all__ = ["ApiPublisher", "KafkaUnavailableError"]

log = logging.getLogger(__name__)


class KafkaUnavailableError(RuntimeError):
    """The broker did not acknowledge in time (or the producer is not connected yet)."""


class ApiPublisher:
    """Starts in the background (the API serves /healthz while Kafka is away) and
    reconnects by itself; :attr:`ready` tells readiness whether it can publish."""

    def __init__(self, bootstrap_servers: str, *, deadline_s: float = 5.0) -> None:
        self._servers = bootstrap_servers
        self._deadline_s = deadline_s
        self._producer: AIOKafkaProducer | None = None
        self._starting: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def ready(self) -> bool:
        return self._producer is not None

    def start(self) -> None:
        self._starting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        while not self._stopping:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._servers,
                acks="all",
                enable_idempotence=True,
                linger_ms=2,
                request_timeout_ms=int(self._deadline_s * 1000),
                client_id="nightline-api",
            )
            try:
                await producer.start()
            except (KafkaError, OSError) as exc:
                log.warning("Kafka not reachable yet: %s; retrying", describe_failure(exc))
                with contextlib.suppress(Exception):
                    await producer.stop()
                await asyncio.sleep(1.0)
                continue
            self._producer = producer
            return

    async def publish(self, topic: str, key: str | None, value: bytes) -> None:
        """Return once the broker acknowledged ``value`` on ``topic``."""
        producer = self._producer
        if producer is None:
            raise KafkaUnavailableError("not connected")
        try:
            async with asyncio.timeout(self._deadline_s):
                await producer.send_and_wait(topic, value, key=key.encode() if key else None)
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning("publish to %s failed: %s", topic, describe_failure(exc))
            raise KafkaUnavailableError(type(exc).__name__) from exc

    async def ping(self) -> bool:
        """Whether the cluster answers a metadata request now."""
        producer = self._producer
        if producer is None:
            return False
        try:
            async with asyncio.timeout(2.0):
                await producer.client.fetch_all_metadata()
        except (KafkaError, TimeoutError, OSError):
            return False
        return True

    async def stop(self) -> None:
        self._stopping = True
        if self._starting is not None:
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._starting
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None
