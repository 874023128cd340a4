"""OAuth 2.0 access tokens for FCM HTTP v1 from a Google service account.

The service account's private key signs a short JWT assertion (RS256, PyJWT),
exchanged at the account's ``token_uri`` for an access token with the
``urn:ietf:params:oauth:grant-type:jwt-bearer`` grant. The token is cached and
refreshed :attr:`AccessTokenProvider.refresh_margin_s` before it expires;
concurrent callers share one refresh under an :class:`asyncio.Lock`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "FCM_SCOPE",
    "JWT_BEARER_GRANT",
    "AccessTokenProvider",
    "ServiceAccount",
    "TokenError",
]

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_ASSERTION_LIFETIME_S = 3600  # Google's maximum


class TokenError(Exception):
    """The token endpoint refused or failed; ``retryable`` for 429 / 5xx answers."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class ServiceAccount:
    """The fields of a Google service-account JSON key that FCM needs."""

    client_email: str
    private_key: str  # PEM
    token_uri: str
    project_id: str
    private_key_id: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ServiceAccount:
        missing = [
            k for k in ("client_email", "private_key", "token_uri", "project_id") if not data.get(k)
        ]
        if missing:
            raise ValueError(f"service account lacks {', '.join(missing)}")
        return cls(
            client_email=str(data["client_email"]),
            private_key=str(data["private_key"]),
            token_uri=str(data["token_uri"]),
            project_id=str(data["project_id"]),
            private_key_id=str(data["private_key_id"]) if data.get("private_key_id") else None,
        )

    @classmethod
    def from_file(cls, path: str | Path) -> ServiceAccount:
        return cls.from_mapping(json.loads(Path(path).read_text()))

    @classmethod
    def generate(
        cls, token_uri: str, *, project_id: str = "nightline-test", client_email: str = ""
    ) -> ServiceAccount:
        """An account with a fresh 2048-bit RSA key, for tests and demos."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        email = client_email or f"fcm-sender@{project_id}.iam.gserviceaccount.com"
        return cls(email, pem, token_uri, project_id, secrets.token_hex(20))

    def save(self, path: str | Path) -> None:
        """Write as a Google-style JSON key file, readable by the owner only."""
        target = Path(path)
        target.write_text(json.dumps(self.to_mapping(), indent=2))
        target.chmod(0o600)

    def to_mapping(self) -> dict[str, str]:
        """The JSON shape of a Google key file (only the fields used here)."""
        out = {
            "type": "service_account",
            "project_id": self.project_id,
            "client_email": self.client_email,
            "private_key": self.private_key,
            "token_uri": self.token_uri,
        }
        if self.private_key_id:
            out["private_key_id"] = self.private_key_id
        return out


class AccessTokenProvider:
    """Mints, caches and refreshes the bearer token for FCM requests."""

    def __init__(
        self,
        account: ServiceAccount,
        http: httpx.AsyncClient,
        *,
        scope: str = FCM_SCOPE,
        refresh_margin_s: float = 300.0,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = serialization.load_pem_private_key(account.private_key.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("service account private_key must be an RSA key")
        self._account = account
        self._key = key
        self._http = http
        self._scope = scope
        self._margin = refresh_margin_s
        self._timeout = timeout_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.refresh_count = 0

    @property
    def account(self) -> ServiceAccount:
        return self._account

    def _fresh(self) -> str | None:
        if self._token is not None and self._clock() < self._expires_at - self._margin:
            return self._token
        return None

    async def token(self) -> str:
        """A valid access token, refreshed when within the margin of expiry."""
        cached = self._fresh()
        if cached is not None:
            return cached
        async with self._lock:
            cached = self._fresh()  # another caller may have refreshed meanwhile
            if cached is not None:
                return cached
            return await self._refresh()

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (rejected with 401); a newer token is kept."""
        if self._token == token:
            self._token = None
            self._expires_at = 0.0

    def _assertion(self, now: float) -> str:
        claims = {
            "iss": self._account.client_email,
            "scope": self._scope,
            "aud": self._account.token_uri,
            "iat": int(now),
            "exp": int(now) + _ASSERTION_LIFETIME_S,
        }
        headers = {"kid": self._account.private_key_id} if self._account.private_key_id else None
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)

    async def _refresh(self) -> str:
        now = self._clock()
        # RSA signing is CPU work: keep it off the event loop.
        assertion = await asyncio.to_thread(self._assertion, now)
        resp = await self._http.post(
            self._account.token_uri,
            data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion},
            timeout=self._timeout,
        )
        if resp.status_code != 200:
            retryable = resp.status_code == 429 or resp.status_code >= 500
            raise TokenError(
                f"token endpoint answered {resp.status_code}: {resp.text[:200]}",
                status=resp.status_code,
                retryable=retryable,
            )
        try:
            body = resp.json()
            token = str(body["access_token"])
            expires_in = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenError(f"malformed token response: {exc}", status=200) from exc
        self._token = token
        self._expires_at = now + expires_in
        self.refresh_count += 1
        return token
