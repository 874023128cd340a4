"""Write rejected input to the dead-letter topic with its reason. The raw bytes
may contain PHI, so they are encrypted with Fernet (AES-128-CBC + HMAC, from
``cryptography``) before they leave the worker. A dead letter from the intake topic
also carries the practice and intake event ids when they can be read (ids only).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet

from engine.ports import EventPublisher
from engine.schemas.deadletter import DeadLetter
from engine.schemas.peek import IntakeIds, peek_intake_ids

__all__ = ["DeadLetterWriter", "is_intake_topic", "load_or_create_key"]

log = logging.getLogger(__name__)


def load_or_create_key(
    configured: str | None, state_dir: Path, name: str = "deadletter.key"
) -> bytes:
    """The configured key, or a local one kept in the state dir (development only)."""
    if configured:
        return configured.encode()
    path = state_dir / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Fernet.generate_key())
        path.chmod(0o600)
    return path.read_bytes().strip()


def is_intake_topic(topic: str) -> bool:
    """``intake`` or ``<prefix>.intake`` (no other catalogue name ends so)."""
    return topic == "intake" or topic.endswith(".intake")


class DeadLetterWriter:
    def __init__(self, publisher: EventPublisher, key: bytes) -> None:
        self._publisher = publisher
        self._fernet = Fernet(key)

    async def write(
        self,
        source_topic: str,
        raw: bytes | None,
        reason_code: str,
        reason: str,
        partition: int | None = None,
        offset: int | None = None,
        ids: IntakeIds | None = None,
    ) -> DeadLetter:
        """Publish a dead letter; ``ids`` default to what can be read from an intake
        record's raw bytes."""
        if ids is None:
            ids = peek_intake_ids(raw) if is_intake_topic(source_topic) else IntakeIds(None, None)
        raw = raw or b""
        letter = DeadLetter(
            source_topic=source_topic,
            source_partition=partition,
            source_offset=offset,
            reason_code=reason_code,
            reason=reason[:2000],
            raw_size=len(raw),
            raw_encrypted=self._fernet.encrypt(raw).decode(),
            at=datetime.now(UTC),
            practice_id=ids.practice_id,
            intake_event_id=ids.event_id,
        )
        await self._publisher.publish("deadletter", source_topic, letter)
        log.warning("dead letter from %s[%s]@%s: %s", source_topic, partition, offset, reason_code)
        return letter

    def decrypt(self, letter: DeadLetter) -> bytes:
        return self._fernet.decrypt(letter.raw_encrypted.encode())
