"""Signing in, and the sessions that follow: tokens, refresh rotation, idle logoff.

A sign-in starts a session (a token *family*) bound to the device that signed in. It
hands out an access token (``NIGHTLINE_ACCESS_TOKEN_S``, 15 min) and a refresh token.
Every refresh spends its refresh token and returns a new pair; presenting a spent
refresh token again means it was copied, so the whole family is revoked. A session
ends when it is unused for ``NIGHTLINE_SESSION_IDLE_S`` (15 min), at
``NIGHTLINE_SESSION_MAX_S`` after sign-in, at sign-out, or when its account is
disabled. Tokens are stored only as SHA-256 digests.

Failed sign-ins are counted per account and address: ``NIGHTLINE_SIGN_IN_LOCK_AFTER``
in a row lock the account for that address for ``NIGHTLINE_SIGN_IN_LOCK_S``, so
someone who knows a clinician's username cannot lock them out from elsewhere at 3 a.m.
Guessing spread over many addresses is caught by an account-wide count:
:data:`ACCOUNT_WIDE_FACTOR` times as many failures lock it everywhere. Attempts per
address per minute are capped as well. Every refusal looks the same to the caller:
wrong username, wrong password, wrong code and a locked account are all "not signed in".
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis

from engine.adapters.redis_keys import Keys
from engine.api.accounts import Account, AccountStore
from engine.api.security import (
    check_password,
    hash_password,
    new_token,
    new_totp_secret,
    normal_totp,
    secret_digest,
    verify_totp,
)
from engine.settings import Settings

__all__ = [
    "PasswordChangeRequired",
    "Session",
    "SessionStore",
    "SignInRefused",
    "TokenPair",
    "TooManyAttempts",
]


class SignInRefused(Exception):
    """Wrong credentials, a locked or disabled account: the same answer for all.
    ``totp_required`` is set only after a correct password without a code."""

    def __init__(self, totp_required: bool = False) -> None:
        super().__init__("sign-in refused")
        self.totp_required = totp_required


class PasswordChangeRequired(Exception):
    """The password was right, but it is a one-time password: set one's own first."""


class TooManyAttempts(Exception):
    """This address has tried too often in the last minute."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class Session:
    family: str
    account: Account
    device_id: str | None


class SessionStore:
    def __init__(
        self, redis: Redis, keys: Keys, accounts: AccountStore, settings: Settings
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._accounts = accounts
        self._s = settings

    async def sign_in(
        self,
        username: str,
        password: str,
        totp: str | None,
        device_id: str | None,
        address: str,
        now: datetime,
    ) -> tuple[TokenPair, Account]:
        account, new_hash = await self._verify(username, password, totp, address, now)
        if new_hash:
            await self._accounts.set_password_hash(account.account_id, new_hash)
        await self._accounts.note_sign_in(account.account_id, now, address)
        family = secrets.token_hex(16)
        session_key = self._keys.session(family)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(
            session_key,
            mapping={
                "account_id": account.account_id,
                "device_id": device_id or "",
                "ends_at": str(now.timestamp() + self._s.session_max_s),
            },
        )
        pipe.expire(session_key, self._s.session_idle_s)
        pipe.sadd(self._keys.account_sessions(account.account_id), family)
        pipe.expire(self._keys.account_sessions(account.account_id), self._s.session_max_s)
        await pipe.execute()
        return await self._issue(family), account

    async def change_password(
        self, username: str, password: str, totp: str | None, new_password: str,
        address: str, now: datetime,
    ) -> str | None:  # fmt: skip
        """Set one's own password (the one-time one from an invite, or the current one).
        An invited administrator enrols TOTP here, so the inviter never knew the seed:
        the new secret is returned once. Every session of the account ends."""
        account, _ = await self._verify(username, password, totp, address, now, changing=True)
        new_secret = None
        if account.needs_totp and account.must_change_password and account.totp_secret is None:
            new_secret = new_totp_secret()
        new_hash = await asyncio.to_thread(hash_password, new_password)
        changed = {"password_hash": new_hash, "must_change_password": False}
        if new_secret:
            changed["totp_secret"] = new_secret
        await self._accounts.save(Account(**{**account.__dict__, **changed}))
        await self.revoke_all(account.account_id)
        return new_secret

    async def _verify(
        self, username: str, password: str, totp: str | None, address: str, now: datetime,
        *, changing: bool = False,
    ) -> tuple[Account, str | None]:  # fmt: skip
        """The account whose credentials these are (and a rehash, if due), else
        :class:`SignInRefused`; throttled and counted like every sign-in."""
        await self._throttle(address)
        account = await self._accounts.by_username(username)
        locked = account is not None and bool(
            await self._redis.exists(
                self._keys.sign_in_lock(account.account_id, address),
                self._keys.sign_in_lock(account.account_id),
            )
        )
        stored_hash = account.password_hash if account and not locked else _DUMMY_HASH
        # Argon2 takes a third of a second: off the event loop, and the same work for an
        # unknown username or a locked account, so the answer's timing tells nothing.
        checked = await asyncio.to_thread(check_password, password, stored_hash)
        if account is None or locked:
            raise SignInRefused()
        if not checked.ok or account.disabled:
            await self._failed(account, address)
            raise SignInRefused()
        if account.must_change_password and not changing:
            raise PasswordChangeRequired()  # the password was right: say what comes next
        enrolling = changing and account.must_change_password and account.totp_secret is None
        if (account.needs_totp or account.totp_secret) and not enrolling:
            code = normal_totp(totp or "")
            if not account.totp_secret or not totp:
                raise SignInRefused(totp_required=True)
            fresh = code is not None and await self._redis.set(
                self._keys.totp_used(account.account_id, code), "1", nx=True, ex=120
            )
            if not fresh or not verify_totp(account.totp_secret, code or "", now.timestamp()):
                await self._failed(account, address)
                raise SignInRefused(totp_required=True)
        await self._redis.delete(self._keys.sign_in_failures(account.account_id, address))
        return account, checked.new_hash

    async def authenticate(
        self, access_token: str, device_id: str | None, now: datetime
    ) -> Session | None:
        """The live session of an access token used from its own device, else None.
        A use keeps the session from going idle."""
        family = await self._redis.get(self._keys.access_token(secret_digest(access_token)))
        if family is None:
            return None
        return await self._live(_text(family), device_id, now)

    async def refresh(
        self, refresh_token: str, device_id: str | None, now: datetime
    ) -> TokenPair | None:
        key = self._keys.refresh_token(secret_digest(refresh_token))
        before = await self._redis.eval(_SPEND, 1, key)
        if before is None:
            return None
        state, _, family = _text(before).partition(":")
        if state != "live":
            await self.revoke(family)  # a spent token again: it was copied
            return None
        if await self._live(family, device_id, now) is None:
            return None
        return await self._issue(family)

    async def alive(self, family: str, now: datetime) -> bool:
        """Whether a session still stands (not signed out, idle, past its end, or of a
        disabled account), without counting this as a use: a stream that only listens
        does not keep its session from going idle."""
        raw = await self._redis.hgetall(self._keys.session(family))
        if not raw:
            return False
        fields = {_text(k): _text(v) for k, v in raw.items()}
        if float(fields.get("ends_at", "0")) <= now.timestamp():
            return False
        account = await self._accounts.get(fields.get("account_id", ""))
        return account is not None and not account.disabled

    async def revoke(self, family: str) -> None:
        await self._redis.delete(self._keys.session(family))

    async def revoke_all(self, account_id: str) -> int:
        """End every session of an account (a password reset, a disable): how many."""
        key = self._keys.account_sessions(account_id)
        families = [_text(f) for f in await self._redis.smembers(key)]
        if families:
            await self._redis.delete(*(self._keys.session(f) for f in families))
        await self._redis.delete(key)
        return len(families)

    async def _live(self, family: str, device_id: str | None, now: datetime) -> Session | None:
        session_key = self._keys.session(family)
        raw = await self._redis.hgetall(session_key)
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        if float(fields.get("ends_at", "0")) <= now.timestamp():
            await self.revoke(family)
            return None
        bound = fields.get("device_id") or None
        if bound is not None and bound != device_id:
            return None
        account = await self._accounts.get(fields["account_id"])
        if account is None or account.disabled:
            await self.revoke(family)
            return None
        await self._redis.expire(session_key, self._s.session_idle_s)
        return Session(family, account, bound)

    async def _issue(self, family: str) -> TokenPair:
        """A new token pair; the session's previous access token stops working."""
        access, access_digest = new_token()
        refresh, refresh_digest = new_token()
        session_key = self._keys.session(family)
        previous = await self._redis.hget(session_key, "access")
        pipe = self._redis.pipeline(transaction=True)
        if previous:
            pipe.delete(self._keys.access_token(_text(previous)))
        pipe.hset(session_key, "access", access_digest)
        pipe.set(self._keys.access_token(access_digest), family, ex=self._s.access_token_s)
        pipe.set(
            self._keys.refresh_token(refresh_digest), f"live:{family}", ex=self._s.session_max_s
        )
        await pipe.execute()
        return TokenPair(access, refresh, self._s.access_token_s)

    async def _failed(self, account: Account, address: str) -> None:
        """Count a failure from ``address`` and from anywhere; lock at the limits."""
        limits = {address: self._s.sign_in_lock_after,
                  "*": self._s.sign_in_lock_after * ACCOUNT_WIDE_FACTOR}  # fmt: skip
        for where, limit in limits.items():
            key = self._keys.sign_in_failures(account.account_id, where)
            failures = await self._redis.incr(key)
            await self._redis.expire(key, self._s.sign_in_lock_s)
            if failures >= limit:
                lock = self._keys.sign_in_lock(account.account_id, where)
                await self._redis.set(lock, "1", ex=self._s.sign_in_lock_s)
                await self._redis.delete(key)

    async def _throttle(self, address: str) -> None:
        key = self._keys.sign_in_address(address)
        await self._redis.set(key, 0, nx=True, ex=60)  # the window, made before counting
        attempts = await self._redis.incr(key)
        if attempts > self._s.sign_in_per_address_per_minute:
            raise TooManyAttempts()


ACCOUNT_WIDE_FACTOR = 5
"""Failures from all addresses together that lock an account everywhere, as a multiple
of the per-address limit."""

_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
"""Checked against for an unknown username, so it takes as long as a known one."""

_SPEND = """
local before = redis.call('GET', KEYS[1])
if before and string.sub(before, 1, 5) == 'live:' then
  redis.call('SET', KEYS[1], 'spent:' .. string.sub(before, 6), 'KEEPTTL')
end
return before
"""
"""Spend a refresh token atomically, returning what it was (live:<family> or spent:...)."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
