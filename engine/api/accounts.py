"""People's accounts: roles, the practices they may act for, password and TOTP.

Roles (45 CFR 164.312(a), unique user identification and least privilege):

- ``service_admin``: the answering service's administrators, every practice;
- ``practice_admin``: a practice's own administrators;
- ``clinician``: a practice's clinicians (``clinician_id`` ties the account to the
  schedule and to the pages);
- ``operator``: the answering service's desk, for the practices its desks serve;
- ``sre``: operations, with no PHI at all;
- ``billing``: counts only.

Integrations are not accounts: they use API keys (:mod:`engine.api.api_keys`).
TOTP secrets are sealed with the deployment's vault key (Fernet) before they reach
Redis; a password is only ever stored as an Argon2id hash.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from cryptography.fernet import MultiFernet
from redis.asyncio import Redis

from engine.adapters.redis_keys import Keys

__all__ = ["TOTP_ROLES", "Account", "AccountStore", "Role", "UsernameTakenError"]


class Role(StrEnum):
    SERVICE_ADMIN = "service_admin"
    PRACTICE_ADMIN = "practice_admin"
    CLINICIAN = "clinician"
    OPERATOR = "operator"
    SRE = "sre"
    BILLING = "billing"


TOTP_ROLES = frozenset({Role.SERVICE_ADMIN, Role.PRACTICE_ADMIN})
"""Roles that must sign in with a second factor."""


class UsernameTakenError(ValueError):
    """Another account has that username."""


@dataclass(frozen=True)
class Account:
    account_id: str
    username: str
    roles: frozenset[Role]
    practices: frozenset[str] = frozenset()
    clinician_id: str | None = None
    desks: frozenset[str] = frozenset()
    password_hash: str = field(default="", repr=False)
    totp_secret: str | None = field(default=None, repr=False)
    disabled: bool = False
    must_change_password: bool = False  # invited: the first sign-in sets one's own
    created_at: datetime | None = None
    last_sign_in_at: datetime | None = None
    last_sign_in_from: str | None = None

    @property
    def needs_totp(self) -> bool:
        return bool(self.roles & TOTP_ROLES)


class AccountStore:
    def __init__(self, redis: Redis, keys: Keys, sealer: MultiFernet) -> None:
        self._redis = redis
        self._keys = keys
        self._sealer = sealer

    async def create(self, account: Account) -> Account:
        """Store a new account under a fresh id; its username must be free."""
        account_id = "a-" + secrets.token_hex(8)
        name = account.username.lower()
        if not await self._redis.hsetnx(self._keys.account_names, name, account_id):
            raise UsernameTakenError(account.username)
        stored = Account(**{**account.__dict__, "account_id": account_id})
        await self._redis.hset(self._keys.account(account_id), mapping=self._fields(stored))
        return stored

    async def remove(self, account: Account) -> None:
        """Undo a ``create`` whose audit entry could not be written."""
        await self._redis.hdel(self._keys.account_names, account.username.lower())
        await self._redis.delete(self._keys.account(account.account_id))

    async def save(self, account: Account) -> None:
        await self._redis.hset(
            self._keys.account(account.account_id), mapping=self._fields(account)
        )

    async def get(self, account_id: str) -> Account | None:
        raw = await self._redis.hgetall(self._keys.account(account_id))
        return self._account(account_id, raw) if raw else None

    async def by_username(self, username: str) -> Account | None:
        account_id = await self._redis.hget(self._keys.account_names, username.lower())
        return None if account_id is None else await self.get(_text(account_id))

    async def all(self) -> list[Account]:
        ids = await self._redis.hvals(self._keys.account_names)
        accounts = [await self.get(_text(i)) for i in ids]
        return sorted((a for a in accounts if a), key=lambda a: a.username)

    async def set_password_hash(self, account_id: str, password_hash: str) -> None:
        """Only the hash (a rehash at sign-in must not undo a concurrent disable)."""
        await self._redis.hset(self._keys.account(account_id), "password_hash", password_hash)

    async def note_sign_in(self, account_id: str, at: datetime, address: str) -> None:
        await self._redis.hset(
            self._keys.account(account_id),
            mapping={"last_sign_in_at": at.isoformat(), "last_sign_in_from": address},
        )

    def _fields(self, a: Account) -> dict[str, str]:
        sealed = self._sealer.encrypt(a.totp_secret.encode()).decode() if a.totp_secret else ""
        return {
            "username": a.username,
            "roles": ",".join(sorted(a.roles)),
            "practices": ",".join(sorted(a.practices)),
            "clinician_id": a.clinician_id or "",
            "desks": ",".join(sorted(a.desks)),
            "password_hash": a.password_hash,
            "totp_sealed": sealed,
            "disabled": "1" if a.disabled else "",
            "must_change": "1" if a.must_change_password else "",
            "created_at": a.created_at.isoformat() if a.created_at else "",
        }

    def _account(self, account_id: str, raw: dict[bytes, bytes]) -> Account:
        f = {_text(k): _text(v) for k, v in raw.items()}
        sealed = f.get("totp_sealed", "")
        return Account(
            account_id=account_id,
            username=f.get("username", ""),
            roles=frozenset(Role(r) for r in _split(f.get("roles", ""))),
            practices=frozenset(_split(f.get("practices", ""))),
            clinician_id=f.get("clinician_id") or None,
            desks=frozenset(_split(f.get("desks", ""))),
            password_hash=f.get("password_hash", ""),
            totp_secret=self._sealer.decrypt(sealed.encode()).decode() if sealed else None,
            disabled=bool(f.get("disabled")),
            must_change_password=bool(f.get("must_change")),
            created_at=_when(f.get("created_at")),
            last_sign_in_at=_when(f.get("last_sign_in_at")),
            last_sign_in_from=f.get("last_sign_in_from") or None,
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _split(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
