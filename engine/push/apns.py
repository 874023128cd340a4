"""APNs client: alert pushes over one pooled HTTP/2 ``httpx.AsyncClient``.

PyAPNs2 does not import on Python 3.10+ (see shared/design/stack-notes.md), so
this speaks the provider API directly: ``POST /3/device/<token>`` with an ES256
provider token (:mod:`engine.push.apns_token`). Every push is an alert with
``mutable-content: 1`` and generic, PHI-free text: the Notification Service
Extension on the phone decrypts or fetches the details.

Outcomes (:class:`ApnsResult`):

* 200 -> ok;
* 410 (Unregistered, ExpiredToken), 400 BadDeviceToken / DeviceTokenNotForTopic ->
  ``device_gone=True``, no retry;
* 403 ExpiredProviderToken -> the shared token is invalidated and the push is
  sent once more at once;
* 429, 5xx, timeouts and broken connections -> retried with backoff that honours
  Retry-After (:mod:`engine.push.retry`); after the last attempt ``ok=False``;
* anything else (other 4xx) -> ``ok=False`` without retry.

A payload over 4,096 bytes raises :class:`PayloadTooLarge` before anything is sent.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from engine.ports import PushResult
from engine.push.apns_token import TokenProvider
from engine.push.payload import alert_text_for
from engine.push.retry import RetryPolicy, with_retries

__all__ = ["MAX_PAYLOAD_BYTES", "ApnsClient", "ApnsResult", "PayloadTooLarge", "build_payload"]

MAX_PAYLOAD_BYTES = 4096
GONE_REASONS = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic"})  # with 400; any 410
_HEX = re.compile(r"^[0-9a-fA-F]{16,200}$")
_TIME_SENSITIVE = frozenset({"emergency", "urgent"})


class _NoCookies(httpx.Cookies):
    """APNs sets no cookies: skip httpx's per-response cookie parsing (~5% of a send)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class PayloadTooLarge(ValueError):
    """The encoded APNs payload is over 4,096 bytes; nothing was sent."""


@dataclass(frozen=True)
class ApnsResult:
    ok: bool
    status: int  # HTTP status; 0 when no response came (timeout, broken connection)
    reason: str = ""
    device_gone: bool = False
    retry_after: float | None = None
    apns_id: str | None = None
    attempts: int = 1

    def to_push_result(self) -> PushResult:
        detail = "apns 200" if self.ok else f"apns {self.status} {self.reason}".strip()
        return PushResult(ok=self.ok, detail=detail, device_gone=self.device_gone)


def build_payload(payload: dict[str, Any], urgency: str, critical: bool) -> dict[str, Any]:
    """``payload`` plus an ``aps`` dictionary for a PHI-free alert of this urgency.

    Critical alerts (which break through silent mode) only for emergencies on a
    device whose user allowed them (``critical``); else time-sensitive for
    urgent / emergency, active for routine.
    """
    aps: dict[str, Any] = dict(payload.get("aps", {}))
    aps.setdefault("alert", {"title": "Nightline", "body": alert_text_for(urgency)})
    aps["mutable-content"] = 1
    if urgency == "emergency" and critical:
        aps["interruption-level"] = "critical"
        aps["sound"] = {"critical": 1, "name": "default", "volume": 1.0}
    else:
        aps["interruption-level"] = "time-sensitive" if urgency in _TIME_SENSITIVE else "active"
        aps.setdefault("sound", "default")
    return {**payload, "aps": aps}


def encode_payload(payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"APNs payload is {len(body)} bytes, over {MAX_PAYLOAD_BYTES}")
    return body


def _retry_after_s(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class ApnsClient:
    """Sends alert pushes for one app (``topic`` = bundle id) through one HTTP/2 pool."""

    def __init__(
        self,
        base_url: str,
        topic: str,
        token_provider: TokenProvider,
        *,
        verify: bool | str | ssl.SSLContext = True,
        timeout_s: float = 10.0,
        limits: httpx.Limits | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(verify, str):  # a CA bundle path (the fake's self-signed cert)
            verify = ssl.create_default_context(cafile=verify)
        self._http = httpx.AsyncClient(
            http2=True,
            verify=verify,
            timeout=httpx.Timeout(timeout_s),
            limits=limits or httpx.Limits(max_connections=4, max_keepalive_connections=4),
        )
        self._http._cookies = _NoCookies()  # the public setter would copy it into a plain jar
        for name in ("accept", "accept-encoding", "user-agent"):  # fewer headers to HPACK
            del self._http.headers[name]
        self._base_url = base_url.rstrip("/")
        self._topic, self._tokens = topic, token_provider
        self._retry, self._clock = retry or RetryPolicy(), clock

    async def __aenter__(self) -> ApnsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(
        self,
        device_token: str,
        payload: dict[str, Any],
        *,
        urgency: str,
        collapse_id: str,
        expiration_s: int,
        critical: bool = False,
    ) -> ApnsResult:
        """Push one alert; retries what is worth retrying, never blocks the loop."""
        body = encode_payload(build_payload(payload, urgency, critical))
        if not _HEX.match(device_token):
            return ApnsResult(False, 400, "BadDeviceToken", device_gone=True, attempts=0)
        headers = {
            "apns-push-type": "alert",
            "apns-priority": "10" if urgency in _TIME_SENSITIVE else "5",
            "apns-expiration": str(int(self._clock()) + expiration_s if expiration_s > 0 else 0),
            "apns-collapse-id": collapse_id[:64],
            "apns-topic": self._topic,
        }
        url = httpx.URL(f"{self._base_url}/3/device/{device_token}")  # parsed once

        refreshed = False

        async def attempt(n: int) -> ApnsResult:
            nonlocal refreshed
            token = await self._tokens.token()
            result = await self._post(url, headers, body, token, n)
            if result.reason == "ExpiredProviderToken" and not refreshed:
                refreshed = True  # invalidate and resend once per push, no backoff
                await self._tokens.invalidate(token)
                result = await self._post(url, headers, body, await self._tokens.token(), n)
            return result

        return await with_retries(
            attempt,
            self._retry,
            is_retryable=lambda r: r.status == 0 or r.status == 429 or r.status >= 500,
            retry_after=lambda r: r.retry_after,
        )

    async def _post(
        self, url: httpx.URL, headers: dict[str, str], body: bytes, token: str, n: int
    ) -> ApnsResult:
        try:
            response = await self._http.post(
                url, content=body, headers={**headers, "authorization": f"bearer {token}"}
            )
        except httpx.TransportError as exc:  # timeouts, resets, protocol errors
            return ApnsResult(False, 0, f"{type(exc).__name__}: {exc}", attempts=n)
        apns_id = response.headers.get("apns-id")
        if response.status_code == 200:
            return ApnsResult(True, 200, apns_id=apns_id, attempts=n)
        try:
            reason = str(response.json().get("reason", ""))
        except (ValueError, AttributeError):
            reason = response.text[:200]
        return ApnsResult(
            ok=False,
            status=response.status_code,
            reason=reason,
            device_gone=response.status_code == 410
            or (response.status_code == 400 and reason in GONE_REASONS),
            retry_after=_retry_after_s(response.headers.get("retry-after")),
            apns_id=apns_id,
            attempts=n,
        )
