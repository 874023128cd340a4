"""Write rejected input to the dead-letter topic with its reason. The raw bytes
may contain PHI, so they are encrypted with Fernet (AES-128-CBC + HMAC, from
``cryptography``) before they leave the worker.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet

from engine.ports import EventPublisher
from engine.schemas.deadletter import DeadLetter

__all__ = ["DeadLetterWriter", "load_or_create_key"]

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
    ) -> DeadLetter:
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
        )
        await self._publisher.publish("deadletter", source_topic, letter)
        log.warning("dead letter from %s[%s]@%s: %s", source_topic, partition, offset, reason_code)
        return letter

    def decrypt(self, letter: DeadLetter) -> bytes:
        return self._fernet.decrypt(letter.raw_encrypted.encode())
