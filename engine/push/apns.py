"""APNs client: alert pushes over one multiplexed HTTP/2 connection.

PyAPNs2 does not import on Python 3.10+ (see shared/design/stack-notes.md), so
this speaks the provider API directly: ``POST /3/device/<token>`` with an ES256
provider token (:mod:`engine.push.apns_token`). The transport is
:class:`~engine.push.h2_transport.H2Transport`: ``h2`` over an asyncio protocol,
one TLS connection with many concurrent streams. It replaced httpx, then
httpcore's connection pool, whose per-request machinery (pool, locks, cancel
scopes) cost a fifth of the worker's CPU per push (``bench/bench_push.py``); APNs
needs none of it (one origin, small POSTs). Every push is an alert with
``mutable-content: 1`` and generic, PHI-free text: the Notification Service
Extension on the phone decrypts or fetches the details.

Outcomes (:class:`ApnsResult`):

* 200 -> ok;
* 410 (Unregistered, ExpiredToken) and 400 BadDeviceToken -> ``device_gone=True``,
  no retry (the gateway decides whether to deactivate: a sandbox token sent to
  production is a BadDeviceToken too);
* the reasons of :data:`CONFIG_ERRORS` (wrong topic, key or environment) ->
  ``config_error=True``, no retry: every push would fail alike, so no device is
  to blame;
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
from typing import Any
from urllib.parse import urlsplit

from engine.ports import PushResult
from engine.push.apns_token import TokenProvider
from engine.push.h2_transport import H2Transport, TransportError
from engine.push.payload import alert_text_for
from engine.push.retry import RetryPolicy, is_retryable_status, parse_retry_after, with_retries

__all__ = [
    "CONFIG_ERRORS",
    "MAX_PAYLOAD_BYTES",
    "ApnsClient",
    "ApnsResult",
    "PayloadTooLarge",
    "build_payload",
]

MAX_PAYLOAD_BYTES = 4096
_TOPIC_HINT = "check NIGHTLINE_APNS_TOPIC, the app's bundle id"
_KEY_HINT = "check NIGHTLINE_APNS_KEY_FILE, _KEY_ID and _TEAM_ID"
CONFIG_ERRORS: dict[str, str] = {  # APNs reason -> what to check (a closed label set)
    "DeviceTokenNotForTopic": _TOPIC_HINT,
    "BadTopic": _TOPIC_HINT,
    "TopicDisallowed": _TOPIC_HINT,
    "MissingTopic": _TOPIC_HINT,
    "BadEnvironmentKeyInToken": "the key is not for this environment: check NIGHTLINE_APNS_URL "
    "(sandbox or production) and the key",
    "InvalidProviderToken": _KEY_HINT,
    "MissingProviderToken": _KEY_HINT,
}
_HEX = re.compile(r"^[0-9a-fA-F]{16,200}$")
_TIME_SENSITIVE = frozenset({"emergency", "urgent"})


class PayloadTooLarge(ValueError):
    """The encoded APNs payload is over 4,096 bytes; nothing was sent."""


@dataclass(frozen=True)
class ApnsResult:
    ok: bool
    status: int  # HTTP status; 0 when no response came (timeout, broken connection)
    reason: str = ""
    device_gone: bool = False
    config_error: bool = False  # ``reason`` is one of CONFIG_ERRORS
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


class ApnsClient:
    """Sends alert pushes for one app (``topic`` = bundle id) over one HTTP/2 connection.

    ``timeout_s`` bounds the connect and, separately, each attempt's response.
    One connection is enough: APNs takes thousands of concurrent streams on it (up
    to the server's ``SETTINGS_MAX_CONCURRENT_STREAMS``; more requests queue for a
    stream).
    """

    def __init__(
        self,
        base_url: str,
        topic: str,
        token_provider: TokenProvider,
        *,
        verify: bool | str | ssl.SSLContext = True,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(verify, str):  # a CA bundle path (the fake's self-signed cert)
            context = ssl.create_default_context(cafile=verify)
        elif isinstance(verify, ssl.SSLContext):
            context = verify
        else:
            context = ssl.create_default_context()
            if not verify:
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        self._http = H2Transport(base_url, context, connect_timeout_s=timeout_s)
        self._timeout_s = timeout_s
        self._base_path = urlsplit(base_url).path.rstrip("/")
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
        collapse = collapse_id[:64].strip()  # h2 used to strip it; the transport refuses
        if any(c in collapse for c in "\r\n\0"):  # what no HTTP/2 header may carry
            return ApnsResult(False, 400, "BadCollapseId", attempts=0)
        # Rounded up to the next 10 s, so a burst of pushes shares one HPACK-indexed
        # value instead of a new literal header every second; 0 means "try once".
        expiration = -(-(int(self._clock()) + expiration_s) // 10) * 10 if expiration_s > 0 else 0
        headers = [
            (b"apns-push-type", b"alert"),
            (b"apns-priority", b"10" if urgency in _TIME_SENSITIVE else b"5"),
            (b"apns-expiration", str(expiration).encode()),
            (b"apns-collapse-id", collapse.encode()),
            (b"apns-topic", self._topic.strip().encode()),
        ]
        path = f"{self._base_path}/3/device/{device_token}".encode()

        refreshed = False

        async def attempt(n: int) -> ApnsResult:
            nonlocal refreshed
            token = await self._tokens.token()
            result = await self._post(path, headers, body, token, n)
            if result.reason == "ExpiredProviderToken" and not refreshed:
                refreshed = True  # invalidate and resend once per push, no backoff
                await self._tokens.invalidate(token)
                result = await self._post(path, headers, body, await self._tokens.token(), n)
            return result

        return await with_retries(
            attempt,
            self._retry,
            is_retryable=lambda r: is_retryable_status(r.status),
            retry_after=lambda r: r.retry_after,
        )

    async def _post(
        self, path: bytes, headers: list[tuple[bytes, bytes]], body: bytes, token: str, n: int
    ) -> ApnsResult:
        auth = (b"authorization", b"bearer " + token.encode())
        try:
            status, found, content = await self._http.request(
                b"POST", path, [*headers, auth], body, self._timeout_s
            )
        except TransportError as exc:  # connect/TLS failures, timeouts, resets, GOAWAY
            return ApnsResult(False, 0, f"{type(exc).__name__}: {exc}", attempts=n)
        apns_id = found.get("apns-id")
        if status == 200:
            return ApnsResult(True, 200, apns_id=apns_id, attempts=n)
        try:
            reason = str(json.loads(content).get("reason", ""))
        except (ValueError, AttributeError):
            reason = content[:200].decode("utf-8", "replace")
        return ApnsResult(
            ok=False,
            status=status,
            reason=reason,
            device_gone=status == 410 or (status == 400 and reason == "BadDeviceToken"),
            config_error=status in (400, 403) and reason in CONFIG_ERRORS,
            retry_after=parse_retry_after(found.get("retry-after")),
            apns_id=apns_id,
            attempts=n,
        )
