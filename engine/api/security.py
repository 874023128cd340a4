"""Secrets the API hands out and checks: integration API keys, passwords, TOTP codes and
session tokens.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second
recommended profile); a hash made with older parameters is replaced at the next
sign-in. TOTP is RFC 6238 (pyotp: 6 digits, 30 s, one step of clock drift either way).
Session tokens are 32 random bytes, like API keys, and stored only as SHA-256 digests.

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

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "IssuedKey",
    "ParsedKey",
    "PasswordCheck",
    "check_password",
    "hash_password",
    "issue_api_key",
    "new_token",
    "new_totp_secret",
    "normal_totp",
    "parse_api_key",
    "secret_digest",
    "totp_uri",
    "verify_totp",
    "weak_password_reason",
]

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()

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


def new_token() -> tuple[str, str]:
    """A session token and the digest that is stored."""
    token = secrets.token_urlsafe(32)
    return token, secret_digest(token)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    new_hash: str | None = None  # set when the stored hash should be replaced


def check_password(password: str, stored_hash: str) -> PasswordCheck:
    """Whether ``password`` matches; a match on outdated parameters brings a new hash."""
    try:
        _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return PasswordCheck(False)
    if _hasher.check_needs_rehash(stored_hash):
        return PasswordCheck(True, _hasher.hash(password))
    return PasswordCheck(True)


def weak_password_reason(password: str) -> str | None:
    """Why a new password is refused (NIST SP 800-63B: length, not composition rules)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 256:
        return "a password has at most 256 characters"
    if len(set(password)) < 4:
        return "a password needs more than a few distinct characters"
    return None


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, username: str, issuer: str = "Nightline") -> str:
    """The otpauth:// URI an authenticator app scans."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


_TOTP_CODE = re.compile(r"^[0-9]{6}$")


def normal_totp(code: str) -> str | None:
    """The code as six ASCII digits (spaces removed), or None: one spelling per code, so
    a used code cannot come back as ``"123 456"`` or in full-width digits."""
    digits = code.replace(" ", "").strip()
    return digits if _TOTP_CODE.fullmatch(digits) else None


def verify_totp(secret: str, code: str, at: float) -> bool:
    """Whether ``code`` (already :func:`normal_totp`) is the TOTP of ``secret`` at ``at``
    (Unix seconds), one 30 s step of drift allowed either way."""
    if normal_totp(code) != code:
        return False
    return bool(pyotp.TOTP(secret).verify(code, for_time=int(at), valid_window=1))
