"""APNs provider tokens (ES256 JWTs), shared by every worker process through Redis.

Apple wants a provider token refreshed no more often than every 20 minutes and
at least every 60; several processes each minting their own for one key get
429 TooManyProviderTokenUpdates. So the current token lives in Redis as
``{"token", "iat"}`` under one key per (team, key id):

* a worker keeps a local copy and uses it while younger than ``refresh_after_s``
  (50 min); then it reads Redis and adopts the stored token if that is young
  enough;
* otherwise it takes a short lock (``SET lock NX PX``), re-reads (another worker
  may just have refreshed), mints, stores (expiring at 60 min) and unlocks;
* :meth:`ApnsTokenProvider.invalidate` (after 403 ExpiredProviderToken) forces a
  new token, but only if the stored one is still the rejected token, so a
  burst of 403s across workers mints one token, not one each.

The store needs only ``get``, ``set(name, value, nx=, px=)`` and ``delete`` of a
``redis.asyncio.Redis`` (see :class:`TokenStore`). The lock is released with a
get-then-delete of our own lock value; it is held for well under a millisecond
of work against a ``lock_ttl_ms`` of seconds, so the check-then-delete race
would need a multi-second stall between two calls.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

__all__ = ["ApnsTokenProvider", "StoredToken", "TokenProvider", "TokenStore", "load_p8_key"]

MAX_TOKEN_AGE_S = 3600


class TokenStore(Protocol):
    """The few ``redis.asyncio.Redis`` calls the provider uses."""

    async def get(self, name: str) -> Any: ...

    async def set(
        self, name: str, value: str, *, nx: bool = False, px: int | None = None
    ) -> Any: ...

    async def delete(self, *names: str) -> Any: ...


class TokenProvider(Protocol):
    """What :class:`engine.push.apns.ApnsClient` needs from a token source."""

    async def token(self) -> str: ...

    async def invalidate(self, token: str) -> None: ...


@dataclass(frozen=True)
class StoredToken:
    token: str
    iat: int


def load_p8_key(source: str | bytes | Path) -> ec.EllipticCurvePrivateKey:
    """The P-256 signing key of an ``AuthKey_XXXX.p8`` file (path, or its PEM text)."""
    pem = Path(source).read_bytes() if isinstance(source, Path) else source
    key = load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("an APNs .p8 key must be an EC (P-256) private key")
    return key


class ApnsTokenProvider:
    """Provider tokens for one APNs key, shared across processes via ``store``."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        key_id: str,
        team_id: str,
        store: TokenStore,
        *,
        clock: Callable[[], float] = time.time,
        refresh_after_s: int = 50 * 60,
        lock_ttl_ms: int = 5000,
        key_prefix: str = "nightline:apns:token",
    ) -> None:
        if not 20 * 60 <= refresh_after_s < MAX_TOKEN_AGE_S:
            raise ValueError("refresh_after_s must be within [1200, 3600)")
        self._key, self._key_id, self._team_id = key, key_id, team_id
        self._store, self._clock = store, clock
        self._refresh_after_s, self._lock_ttl_ms = refresh_after_s, lock_ttl_ms
        self._redis_key = f"{key_prefix}:{team_id}:{key_id}"
        self._local: StoredToken | None = None
        self._guard = asyncio.Lock()  # one refresh at a time inside this process
        self.minted = 0  # tokens minted by this process (observability, tests)

    async def token(self) -> str:
        """A provider token younger than the refresh age (minting one if none is)."""
        if self._local is not None and self._fresh(self._local):
            return self._local.token
        async with self._guard:
            if self._local is not None and self._fresh(self._local):
                return self._local.token
            stored = await self._read()
            if stored is None or not self._fresh(stored):
                stored = await self._refresh(unless=lambda _: True)
            self._local = stored
            return stored.token

    async def invalidate(self, token: str) -> None:
        """APNs rejected ``token`` (ExpiredProviderToken): replace it if still current."""
        async with self._guard:
            if self._local is not None and self._local.token == token:
                self._local = None
            self._local = await self._refresh(unless=lambda s: s.token != token)

    def _fresh(self, stored: StoredToken) -> bool:
        return 0 <= self._clock() - stored.iat < self._refresh_after_s

    async def _read(self) -> StoredToken | None:
        raw = await self._store.get(self._redis_key)
        if raw is None:
            return None
        data = json.loads(raw)
        return StoredToken(token=str(data["token"]), iat=int(data["iat"]))

    async def _refresh(self, unless: Callable[[StoredToken], bool]) -> StoredToken:
        """Under the shared lock: keep the stored token if ``unless(stored)``, else mint."""
        lock_key, me = f"{self._redis_key}:lock", uuid.uuid4().hex
        deadline = time.monotonic() + 2 * self._lock_ttl_ms / 1000
        locked = False
        while not locked and time.monotonic() < deadline:
            locked = bool(await self._store.set(lock_key, me, nx=True, px=self._lock_ttl_ms))
            if not locked:
                await asyncio.sleep(0.02)
        # Past the deadline the holder is gone without unlocking (the lock expires anyway):
        # go on without it rather than stall pushes.
        try:
            stored = await self._read()
            if stored is not None and self._fresh(stored) and unless(stored):
                return stored
            fresh = self._mint()
            ttl_ms = int((MAX_TOKEN_AGE_S - 60) * 1000)
            value = json.dumps({"token": fresh.token, "iat": fresh.iat})
            await self._store.set(self._redis_key, value, px=ttl_ms)
            return fresh
        finally:
            if locked:
                held = await self._store.get(lock_key)
                if held is not None and (held.decode() if isinstance(held, bytes) else held) == me:
                    await self._store.delete(lock_key)

    def _mint(self) -> StoredToken:
        iat = int(self._clock())
        token = jwt.encode(
            {"iss": self._team_id, "iat": iat},
            self._key,
            algorithm="ES256",
            headers={"kid": self._key_id},
        )
        self.minted += 1
        return StoredToken(token=token, iat=iat)
