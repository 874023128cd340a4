"""Write rejected input to the dead-letter topic with its reason. The raw bytes
may contain PHI, so they are encrypted with Fernet (AES-128-CBC + HMAC, from
``cryptography``) before they leave the worker. A dead letter from the intake topic
also carries the practice and intake event ids when they can be read (ids only).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from cryptography.fernet import Fernet

from engine.adapters.deployment_keys import DEAD_LETTER_KEY, deployment_key
from engine.ports import EventPublisher
from engine.schemas.deadletter import DeadLetter
from engine.schemas.peek import IntakeIds, peek_intake_ids
from engine.settings import Settings

__all__ = ["DeadLetterWriter", "dead_letter_key", "is_intake_topic"]

log = logging.getLogger(__name__)


def dead_letter_key(settings: Settings) -> bytes:
    """The deployment's dead-letter key (see :mod:`engine.adapters.deployment_keys`)."""
    return deployment_key(settings, DEAD_LETTER_KEY, settings.dead_letter_key).encode()


def is_intake_topic(topic: str) -> bool:
    """``intake`` or ``<prefix>.intake`` (no other catalogue name ends so)."""
    return topic == "intake" or topic.endswith(".intake")


KEEP_BYTES = 256 * 1024
"""Raw bytes a dead letter keeps at most: an oversize record must still fit the broker's
message limit once encrypted (Fernet and base64 grow it by about a third)."""


class DeadLetterWriter:
    def __init__(self, publisher: EventPublisher, key: bytes, keep_bytes: int = KEEP_BYTES) -> None:
        self._publisher = publisher
        self._fernet = Fernet(key)
        self._keep_bytes = keep_bytes

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
            raw_encrypted=self._fernet.encrypt(raw[: self._keep_bytes]).decode(),
            raw_truncated=len(raw) > self._keep_bytes,
            at=datetime.now(UTC),
            practice_id=ids.practice_id,
            intake_event_id=ids.event_id,
        )
        await self._publisher.publish("deadletter", source_topic, letter)
        log.warning("dead letter from %s[%s]@%s: %s", source_topic, partition, offset, reason_code)
        return letter

    def decrypt(self, letter: DeadLetter) -> bytes:
        return self._fernet.decrypt(letter.raw_encrypted.encode())
