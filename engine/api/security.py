"""Secrets the API hands out and checks: integration API keys (passwords and tokens join
them here).

An API key is ``nlk_<key id>_<secret>``. The key id (12 hex digits) names the stored
record and may appear in logs and audit events; the secret (32 random bytes, base64url)
never does. Only the SHA-256 of the secret is stored: the secret is random and long,
so a fast hash is enough (unlike a password, it cannot be guessed from a dictionary),
and a request is checked with one hash and a constant-time compare.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

__all__ = ["IssuedKey", "ParsedKey", "issue_api_key", "parse_api_key", "secret_digest"]

_KEY = re.compile(r"^nlk_([0-9a-f]{12})_([A-Za-z0-9_\-]{43})$")


@dataclass(frozen=True)
class IssuedKey:
    """A new key: ``token`` is shown once to whoever created it; ``digest`` is stored."""

    key_id: str
    token: str
    digest: str


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    secret: str

    def matches(self, digest: str) -> bool:
        return hmac.compare_digest(secret_digest(self.secret), digest)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key() -> IssuedKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return IssuedKey(key_id, f"nlk_{key_id}_{secret}", secret_digest(secret))


def parse_api_key(token: str) -> ParsedKey | None:
    """The parts of a well-formed key, or None (the caller answers 401 either way)."""
    match = _KEY.fullmatch(token.strip())
    return ParsedKey(match[1], match[2]) if match else None
