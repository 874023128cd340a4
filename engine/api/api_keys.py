"""Integration API keys in Redis: issue, rotate, revoke, list, and check a request's key.

A key belongs to one integration (a PBX, an IVR, an SMS gateway) and is bound to the
practices that integration serves; a request may only submit events for those. Rotation
issues a new key for the same integration and practices and lets the old one work for a
grace period (default a day) so the integration can be reconfigured without a gap.
Records are never deleted: a revoked key keeps its dates for the audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.asyncio import Redis

from engine.adapters.redis_keys import Keys
from engine.api.security import IssuedKey, issue_api_key, parse_api_key

__all__ = ["ApiKeyRecord", "ApiKeyStore", "EndedKeyError", "UnknownKeyError"]


class UnknownKeyError(LookupError):
    """No key has that id."""


class EndedKeyError(ValueError):
    """The key was revoked or has expired: issue a new one with ``create``."""


@dataclass(frozen=True)
class ApiKeyRecord:
    key_id: str
    integration: str
    practices: frozenset[str]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def valid_at(self, now: datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or now < self.expires_at

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "expiring" if self.expires_at is not None else "active"


class ApiKeyStore:
    """The keys, one Redis hash each; the secret's digest never leaves this class."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def issue(
        self, integration: str, practices: frozenset[str], now: datetime
    ) -> tuple[IssuedKey, ApiKeyRecord]:
        issued = issue_api_key()
        record = ApiKeyRecord(issued.key_id, integration, practices, now)
        fields = {
            "digest": issued.digest,
            "integration": integration,
            "practices": ",".join(sorted(practices)),
            "created_at": now.isoformat(),
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._keys.api_key(issued.key_id), mapping=fields)
            pipe.sadd(self._keys.api_keys, issued.key_id)
            await pipe.execute()
        return issued, record

    async def rotate(
        self, key_id: str, now: datetime, grace: timedelta
    ) -> tuple[IssuedKey, ApiKeyRecord]:
        """A new key for the same integration and practices; the old one ends after
        ``grace`` (at once when ``grace`` is zero)."""
        old = await self.get(key_id)
        if old is None:
            raise UnknownKeyError(key_id)
        if not old.valid_at(now):
            raise EndedKeyError(key_id)  # a revoked or expired key cannot bring a new one
        issued, record = await self.issue(old.integration, old.practices, now)
        ends = now + grace
        if old.expires_at is None or ends < old.expires_at:
            await self._redis.hset(self._keys.api_key(key_id), "expires_at", ends.isoformat())
        return issued, record

    async def revoke(self, key_id: str, now: datetime) -> ApiKeyRecord:
        if not await self._redis.exists(self._keys.api_key(key_id)):
            raise UnknownKeyError(key_id)
        await self._redis.hsetnx(self._keys.api_key(key_id), "revoked_at", now.isoformat())
        record = await self.get(key_id)
        assert record is not None
        return record

    async def practice_exists(self, practice_id: str) -> bool:
        return bool(await self._redis.exists(self._keys.practice(practice_id)))

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        raw = await self._redis.hgetall(self._keys.api_key(key_id))
        return _record(key_id, raw) if raw else None

    async def all(self) -> list[ApiKeyRecord]:
        ids = sorted(_text(i) for i in await self._redis.smembers(self._keys.api_keys))
        records = [await self.get(key_id) for key_id in ids]
        return sorted((r for r in records if r), key=lambda r: r.created_at)

    async def authenticate(self, token: str, now: datetime) -> ApiKeyRecord | None:
        """The record of a valid key, or None for a malformed, unknown, wrong, expired
        or revoked one (the caller cannot tell which: all are 401)."""
        parsed = parse_api_key(token)
        if parsed is None:
            return None
        raw = await self._redis.hgetall(self._keys.api_key(parsed.key_id))
        if not raw or not parsed.matches(_text(raw.get(b"digest", b""))):
            return None
        record = _record(parsed.key_id, raw)
        return record if record.valid_at(now) else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _when(raw: dict[bytes, bytes], name: str) -> datetime | None:
    value = raw.get(name.encode())
    return datetime.fromisoformat(_text(value)) if value else None


def _record(key_id: str, raw: dict[bytes, bytes]) -> ApiKeyRecord:
    practices = _text(raw.get(b"practices", b""))
    created = _when(raw, "created_at")
    assert created is not None
    return ApiKeyRecord(
        key_id=key_id,
        integration=_text(raw.get(b"integration", b"")),
        practices=frozenset(p for p in practices.split(",") if p),
        created_at=created,
        expires_at=_when(raw, "expires_at"),
        revoked_at=_when(raw, "revoked_at"),
    )
