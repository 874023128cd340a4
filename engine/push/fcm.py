"""FCM HTTP v1 client: data-only, high-priority pushes to Android, fully async.

One :meth:`FcmClient.send` posts ``{base}/v1/projects/{id}/messages:send`` with
a message that has no ``notification`` block (the app decrypts and shows it),
``android.priority = HIGH`` and a TTL. Errors are read from the v1 JSON error
body (``error.details[].errorCode``, else ``error.status``):

* ``UNREGISTERED`` -> ``device_gone``;
* the codes of :data:`CONFIG_ERRORS` (a token of another Firebase project, a service
  account FCM does not accept) -> ``config_error``, not retried: every push would
  fail alike, so no device is to blame;
* ``INVALID_ARGUMENT`` -> ``invalid_argument``, not retried (dead-letter it);
* ``QUOTA_EXCEEDED``, ``UNAVAILABLE``, ``INTERNAL`` (and other 5xx), timeouts
  and connection resets -> retried under :class:`engine.push.retry.RetryPolicy`,
  honouring ``Retry-After``;
* 401 -> the access token is dropped and refreshed, once per send.

``send`` never raises for provider or network trouble: it returns an
:class:`FcmResult`. A retried POST whose answer was lost may deliver twice, so
the app must de-duplicate by dispatch id.

The POSTs go over an ``aiohttp`` client session (kept-alive connections). It replaced
``httpx`` here: measured against the fake FCM, 25 at once, an httpx POST cost the
worker about 4.1 ms of CPU and an aiohttp POST about 0.36 ms. (The OAuth token
exchange, once an hour, still uses httpx: :mod:`engine.push.fcm_auth`.)
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import aiohttp
import certifi
import httpx

from engine.push.fcm_auth import TokenError
from engine.push.retry import RetryPolicy, is_retryable_status, parse_retry_after, with_retries

__all__ = [
    "CONFIG_ERRORS",
    "MAX_DATA_BYTES",
    "FcmClient",
    "FcmResult",
    "TokenSource",
    "build_message",
    "data_size",
    "parse_retry_after",  # re-exported from engine.push.retry
]

MAX_DATA_BYTES = 4096
MAX_TTL_S = 28 * 24 * 3600
_RESERVED_KEYS = {"from", "notification", "message_type", "collapse_key"}
_DEVICE_GONE = {"UNREGISTERED"}
_ACCOUNT_HINT = "check NIGHTLINE_FCM_SERVICE_ACCOUNT_FILE"
CONFIG_ERRORS: dict[str, str] = {  # error code -> what to check (a closed label set)
    "SENDER_ID_MISMATCH": "the token belongs to another Firebase project: check "
    "NIGHTLINE_FCM_PROJECT_ID and the service account",
    "NOT_FOUND": "no such Firebase project: check NIGHTLINE_FCM_PROJECT_ID",
    "PERMISSION_DENIED": "the service account may not send for this project: " + _ACCOUNT_HINT,
    "UNAUTHENTICATED": "FCM refuses the access token: " + _ACCOUNT_HINT,
    "AUTH_FAILED": "Google refuses the service account: " + _ACCOUNT_HINT,
}
_RETRYABLE = {"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL", "TIMEOUT", "NETWORK", "AUTH_UNAVAILABLE"}


class TokenSource(Protocol):
    """Bearer tokens for FCM (:class:`engine.push.fcm_auth.AccessTokenProvider`)."""

    async def token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


@dataclass(frozen=True)
class FcmResult:
    """Outcome of one send (after retries)."""

    ok: bool
    status: int | None  # HTTP status of the last attempt; None if none was answered
    error_code: str | None = None
    device_gone: bool = False
    config_error: bool = False  # ``error_code`` is one of CONFIG_ERRORS
    invalid_argument: bool = False
    retry_after: float | None = None
    message_name: str | None = None
    detail: str = ""
    attempts: int = 1


def data_size(data: Mapping[str, str]) -> int:
    """Bytes of ``data`` as compact UTF-8 JSON: what is held against 4,096."""
    return len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())


def build_message(
    registration_token: str, data: Mapping[str, str], *, ttl_s: int, urgency: str
) -> dict[str, Any]:
    """The v1 request body; ``urgency`` travels in ``data["urgency"]``."""
    if not registration_token:
        raise ValueError("registration token is empty")
    if not 0 <= ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl_s must be within 0..{MAX_TTL_S}")
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"FCM data must map str to str (key {key!r})")
        if key in _RESERVED_KEYS or key.startswith(("google", "gcm")):
            raise ValueError(f"FCM reserves the data key {key!r}")
    if data.get("urgency", urgency) != urgency:
        raise ValueError("data['urgency'] disagrees with urgency")
    payload = {**data, "urgency": urgency}
    android = {"priority": "HIGH", "ttl": f"{ttl_s}s"}
    return {"message": {"token": registration_token, "data": payload, "android": android}}


def _error_code(status: int, body: bytes) -> tuple[str, str]:
    try:
        err = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        return f"HTTP_{status}", body[:200].decode("utf-8", "replace")
    if not isinstance(err, dict):
        return f"HTTP_{status}", str(err)[:200]
    for detail in err.get("details") or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"]), str(err.get("message", ""))
    return str(err.get("status") or f"HTTP_{status}"), str(err.get("message", ""))


def _message_name(body: bytes) -> str | None:
    try:
        name = json.loads(body).get("name")
    except (ValueError, AttributeError):
        return None
    return str(name) if name else None


class FcmClient:
    """Sends FCM v1 messages for one Firebase project over one ``aiohttp`` session: the
    one given, or its own (opened at the first send, closed by :meth:`aclose`)."""

    def __init__(
        self,
        base_url: str,
        project_id: str,
        auth: TokenSource,
        retry: RetryPolicy | None = None,
        *,
        http: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._auth = auth
        self._http = http
        self._owns_http = http is None
        self._retry = retry or RetryPolicy()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._sleep = sleep

    async def aclose(self) -> None:
        """Close the session this client opened (a given one is its owner's)."""
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # as httpx did: certifi's CAs (a slim image may lack the OS store) and the
            # proxy of HTTPS_PROXY / NO_PROXY
            tls = ssl.create_default_context(cafile=certifi.where())
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=tls), trust_env=True
            )
            self._owns_http = True
        return self._http

    async def send(
        self, registration_token: str, data: Mapping[str, str], *, ttl_s: int, urgency: str
    ) -> FcmResult:
        """Push a data-only message; refuses (no request) when data exceeds 4,096 bytes."""
        body = build_message(registration_token, data, ttl_s=ttl_s, urgency=urgency)
        size = data_size(body["message"]["data"])
        if size > MAX_DATA_BYTES:
            return FcmResult(
                ok=False,
                status=None,
                error_code="MESSAGE_TOO_BIG",
                invalid_argument=True,
                detail=f"data is {size} bytes, limit {MAX_DATA_BYTES}",
                attempts=0,
            )
        refreshed = False

        async def attempt(n: int) -> FcmResult:
            nonlocal refreshed
            result = await self._post_once(body)
            if result.status == 401 and not refreshed:
                refreshed = True
                result = await self._post_once(body)
            return replace(result, attempts=n)

        return await with_retries(
            attempt,
            self._retry,
            is_retryable=lambda r: r.error_code in _RETRYABLE,
            retry_after=lambda r: r.retry_after,
            sleep=self._sleep,
        )

    async def _post_once(self, body: dict[str, Any]) -> FcmResult:
        try:
            token = await self._auth.token()
        except TokenError as exc:
            code = "AUTH_UNAVAILABLE" if exc.retryable else "AUTH_FAILED"
            return FcmResult(
                ok=False,
                status=exc.status,
                error_code=code,
                config_error=code in CONFIG_ERRORS,
                detail=str(exc),
            )
        except httpx.TransportError as exc:
            return FcmResult(ok=False, status=None, error_code="AUTH_UNAVAILABLE", detail=repr(exc))
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            async with self._session().post(
                self._url,
                data=json.dumps(body).encode(),
                timeout=self._timeout,
                headers=headers,
                allow_redirects=False,  # FCM never redirects a send; nor did httpx follow
            ) as resp:
                status, answer = resp.status, await resp.read()
                retry_after = resp.headers.get("Retry-After")
        except TimeoutError as exc:  # aiohttp's ServerTimeoutError is one too
            return FcmResult(ok=False, status=None, error_code="TIMEOUT", detail=_named(exc))
        except (aiohttp.ClientError, OSError) as exc:  # refused, reset, closed mid-answer
            return FcmResult(ok=False, status=None, error_code="NETWORK", detail=_named(exc))
        if status == 200:
            return FcmResult(ok=True, status=200, message_name=_message_name(answer))
        code, message = _error_code(status, answer)
        if status == 401:
            self._auth.invalidate(token)
            code = "UNAUTHENTICATED"
        elif is_retryable_status(status) and code not in _RETRYABLE:
            # 429 or 5xx: retried whatever the body says
            code = {429: "QUOTA_EXCEEDED", 503: "UNAVAILABLE"}.get(status, "INTERNAL")
        return FcmResult(
            ok=False,
            status=status,
            error_code=code,
            device_gone=code in _DEVICE_GONE,
            config_error=code in CONFIG_ERRORS,
            invalid_argument=code == "INVALID_ARGUMENT",
            retry_after=parse_retry_after(retry_after),
            detail=message,
        )


def _named(exc: BaseException) -> str:
    """The failure's type only: aiohttp's texts can carry the request's headers (the
    bearer token)."""
    return type(exc).__name__
