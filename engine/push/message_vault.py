"""Message content kept for re-paging, encrypted at rest in Redis.

Escalation timers re-page clinicians long after intake, so the message must stay
available, but never in clear: each :class:`PushContent` is sealed with a server Fernet
key (AES-128-CBC + HMAC-SHA256) under ``{prefix}:vault:{dispatch_id}`` with a TTL.
Several keys may be given for rotation: the first seals, all open. A record under the
wrong dispatch id (swapped by someone with Redis access), tampered with, or sealed with a
retired key reads as missing, so a re-page falls back to the dispatch id alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import ValidationError
from redis.asyncio import Redis

from engine.push.payload import PushContent

__all__ = ["MessageVault"]

log = logging.getLogger(__name__)


class MessageVault:
    """Encrypted store of :class:`PushContent` per dispatch id."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        keys: str | bytes | Sequence[str | bytes],
        ttl_s: int,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        key_list = [keys] if isinstance(keys, str | bytes) else list(keys)
        if not key_list:
            raise ValueError("at least one Fernet key is needed")
        self._redis = redis
        self._prefix = prefix
        self._fernet = MultiFernet([Fernet(k) for k in key_list])
        self._ttl_s = ttl_s

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key (url-safe base64, 32 bytes)."""
        return Fernet.generate_key().decode("ascii")

    def _key(self, dispatch_id: str) -> str:
        return f"{self._prefix}:vault:{dispatch_id}"

    async def put(
        self, content: PushContent, replace: bool = True, ttl_s: int | None = None
    ) -> bool:
        """Seal and store ``content`` with a fresh TTL (``ttl_s``, a practice's retention,
        or the vault's own). With ``replace=False`` an existing record is kept (and False
        returned): a reused event id never swaps the message of a running dispatch."""
        token = self._fernet.encrypt(content.model_dump_json().encode())
        stored = await self._redis.set(
            self._key(content.dispatch_id), token, ex=ttl_s or self._ttl_s, nx=not replace
        )
        return bool(stored)

    async def get(self, dispatch_id: str) -> PushContent | None:
        """The stored content, or None when expired, missing or unreadable."""
        token = await self._redis.get(self._key(dispatch_id))
        if token is None:
            return None
        try:
            raw = self._fernet.decrypt(token if isinstance(token, bytes) else token.encode())
            content = PushContent.model_validate_json(raw)
        except (InvalidToken, ValidationError):
            log.warning("vault record for dispatch %s cannot be opened", dispatch_id)
            return None
        if content.dispatch_id != dispatch_id:
            log.warning("vault record for dispatch %s belongs to another dispatch", dispatch_id)
            return None
        return content

    async def kept(self, dispatch_id: str) -> bool:
        """Whether a record is still kept (without opening it): the portal offers to
        show a message only while retention keeps it."""
        return bool(await self._redis.exists(self._key(dispatch_id)))

    async def forget(self, dispatch_id: str) -> None:
        """Delete the record (e.g. once the dispatch is closed)."""
        await self._redis.delete(self._key(dispatch_id))
