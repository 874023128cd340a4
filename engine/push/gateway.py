"""The push gateway for real phones: encrypt per device, route by platform.

For each page it loads the message from the vault (encrypted at rest), encrypts it
to the device's own key (RFC 8291), and sends an envelope (:mod:`engine.push.envelope`)
that carries only the dispatch id, generic text and ciphertext: APNs as an alert with
``mutable-content`` for the Notification Service Extension, FCM as a high-priority
data message.

Every send is bounded: retries happen inside ``deadline_s``, and a per-provider
:class:`~engine.push.breaker.CircuitBreaker` fails sends at once while a provider
is down, so a dispatch escalates instead of waiting. Tokens the provider reports
dead are deactivated at once (the caller pages the clinician's other devices and
escalates when none could be reached), unless such answers come in a burst
(:class:`~engine.push.misconfiguration.DeactivationGuard`): then the provider is
misconfigured, not the phones. A configuration error the provider names (wrong
topic, key, environment or project) deactivates nothing either; it is counted and
logged loudly, once a minute per provider and reason, and the push fails, so the
dispatch escalates. A message FCM calls INVALID_ARGUMENT goes to the dead letters
with FCM's error code (never its message, which can echo the request).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Protocol

from engine.ports import Device, PushRequest, PushResult
from engine.push.apns import CONFIG_ERRORS as APNS_CONFIG_ERRORS
from engine.push.apns import ApnsClient, PayloadTooLarge
from engine.push.breaker import CircuitBreaker
from engine.push.envelope import android_data, ios_payload
from engine.push.fcm import CONFIG_ERRORS as FCM_CONFIG_ERRORS
from engine.push.fcm import FcmClient
from engine.push.misconfiguration import DeactivationGuard, OncePer
from engine.push.payload import DevicePayload, PushContent, build_device_payload
from engine.push.retry import is_retryable_status

__all__ = ["DeviceRegistry", "MessageSource", "ProviderPushGateway", "RejectedPushHandler"]

log = logging.getLogger(__name__)
_FCM_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")

RejectedPushHandler = Callable[[str, bytes, str], Awaitable[object]]
"""``(provider, request body, reason)``: where a push the provider refused as invalid goes."""

Observer = Callable[[str, str], None]
"""``(provider, label)``: bounded labels for a metric."""


class DeviceRegistry(Protocol):
    async def deactivate(self, clinician_id: str, device_id: str, reason: str) -> bool: ...


class MessageSource(Protocol):
    async def get(self, dispatch_id: str) -> PushContent | None: ...


def _ignore(provider: str, label: str = "") -> None:
    return None


class ProviderPushGateway:
    """:class:`engine.ports.PushGateway` over APNs and FCM.

    ``observe`` counts every send's outcome, ``observe_config_error`` every push
    refused for a configuration error (provider, reason), ``observe_withheld`` every
    deactivation the burst guard held back (provider, "withheld").
    """

    def __init__(
        self,
        messages: MessageSource,
        registry: DeviceRegistry,
        apns: ApnsClient | None,
        fcm: FcmClient | None,
        *,
        on_rejected: RejectedPushHandler | None = None,
        observe: Observer = _ignore,
        observe_config_error: Observer = _ignore,
        observe_withheld: Observer = _ignore,
        ttl_s: int = 300,
        deadline_s: float = 8.0,
        breakers: dict[str, CircuitBreaker] | None = None,
        guard: DeactivationGuard | None = None,
        loud: OncePer | None = None,
    ) -> None:
        self._messages, self._registry = messages, registry
        self._apns, self._fcm = apns, fcm
        self._on_rejected, self._observe = on_rejected, observe
        self._observe_config_error, self._observe_withheld = observe_config_error, observe_withheld
        self._ttl_s, self._deadline_s = ttl_s, deadline_s
        self._breakers = breakers or {"apns": CircuitBreaker(), "fcm": CircuitBreaker()}
        self._guard, self._loud = guard or DeactivationGuard(), loud or OncePer(60.0)
        self._reads: dict[str, asyncio.Future[PushContent | None]] = {}

    async def send(self, request: PushRequest) -> PushResult:
        device = request.device
        provider = {"ios": "apns", "android": "fcm"}.get(device.platform, "")
        client = self._apns if provider == "apns" else self._fcm if provider == "fcm" else None
        if client is None:
            self._observe(provider or "none", "not_configured")
            return PushResult(ok=False, detail=f"no push provider for {device.platform!r}")
        payload = await self._payload(request)  # before the breaker: may raise (Redis)
        breaker = self._breakers[provider]
        if not breaker.allow():
            self._observe(provider, "circuit_open")
            return PushResult(ok=False, detail=f"{provider} circuit open")
        try:
            async with asyncio.timeout(self._deadline_s):  # no extra task per push
                result, outcome = await self._send(provider, request, payload)
        except TimeoutError:
            result, outcome = PushResult(ok=False, detail=f"{provider} deadline"), "deadline"
        except BaseException:
            breaker.record_failure()  # never leave a half-open trial marked as running
            raise
        provider_trouble = outcome in ("deadline", "retryable")
        (breaker.record_failure if provider_trouble else breaker.record_success)()
        self._observe(provider, outcome)
        if outcome != "deadline":  # the provider answered
            self._answered(provider, result.device_gone)
        if result.device_gone:
            await self._device_gone(provider, device, result.detail)
        return result

    def _answered(self, provider: str, gone: bool) -> None:
        burst = self._guard.record(provider, gone)
        if burst is not None:
            log.error(
                "%s answered 'device gone' to %d of %d pushes within %g s: a configuration "
                "error (a sandbox token sent to production, or the reverse?), not phones "
                "uninstalled at once; deactivating no devices of %s until it stops",
                provider,
                burst.gone,
                burst.answered,
                burst.window_s,
                provider,
            )

    async def _device_gone(self, provider: str, device: Device, detail: str) -> None:
        if self._guard.paused(provider):
            self._observe_withheld(provider, "withheld")
            if self._loud.allow((provider, "withheld")):
                log.error(
                    "%s: 'device gone' answers come in a burst; device %s of clinician %s "
                    "stays active (%s) and its page counts as failed",
                    provider,
                    device.device_id,
                    device.clinician_id,
                    detail,
                )
            return
        await self._registry.deactivate(device.clinician_id, device.device_id, detail)
        log.warning(
            "device %s of clinician %s deactivated: %s",
            device.device_id,
            device.clinician_id,
            detail,
        )

    def _config_error(self, provider: str, reason: str, hint: str) -> None:
        self._observe_config_error(provider, reason)
        if self._loud.allow((provider, reason)):
            log.error(
                "%s refuses pushes with %s, a configuration error (%s): no device is "
                "deactivated, and pages through %s fail and escalate until it is fixed",
                provider,
                reason,
                hint,
                provider,
            )

    async def _content(self, dispatch_id: str) -> PushContent | None:
        """The message, read once for all the concurrent pushes of one dispatch (and
        kept no longer than those reads take: no PHI cache)."""
        pending = self._reads.get(dispatch_id)
        if pending is not None:  # another push of this page is reading it: wait for that
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this push itself was cancelled
                # the other read failed: read for ourselves below
        # read it ourselves, inline (no task: this is the hot path)
        shared: asyncio.Future[PushContent | None] = asyncio.get_running_loop().create_future()
        self._reads[dispatch_id] = shared
        try:
            content = await self._messages.get(dispatch_id)
            shared.set_result(content)
            return content
        finally:
            if not shared.done():
                shared.cancel()  # waiters read for themselves
            if self._reads.get(dispatch_id) is shared:
                del self._reads[dispatch_id]

    async def _payload(self, request: PushRequest) -> DevicePayload:
        content = await self._content(request.dispatch_id)
        if content is None:  # expired or unreadable: the app fetches by dispatch id
            return DevicePayload(None, request.dispatch_id, request.alert_text, truncated=True)
        return build_device_payload(content, request.device)

    async def _send(
        self, provider: str, request: PushRequest, payload: DevicePayload
    ) -> tuple[PushResult, str]:
        if provider == "apns":
            return await self._send_apns(request, payload)
        return await self._send_fcm(request, payload)

    async def _send_apns(
        self, request: PushRequest, payload: DevicePayload
    ) -> tuple[PushResult, str]:
        assert self._apns is not None
        device, body = request.device, ios_payload(payload, request.urgency, request.page)
        try:
            apns = await self._apns.send(
                device.push_token,
                body,
                urgency=request.urgency,
                collapse_id=request.dispatch_id[:64],
                expiration_s=self._ttl_s,
                critical=device.critical_alerts and request.urgency == "emergency",
            )
        except PayloadTooLarge:  # cannot happen with the 4 KB budget; never silent
            await self._reject("apns", json.dumps(body).encode(), "APNs payload_too_large")
            return PushResult(ok=False, detail="apns payload too large"), "rejected"
        if apns.config_error:
            self._config_error("apns", apns.reason, APNS_CONFIG_ERRORS[apns.reason])
            return apns.to_push_result(), "config_error"
        return apns.to_push_result(), _outcome(apns.ok, apns.device_gone, apns.status)

    async def _send_fcm(
        self, request: PushRequest, payload: DevicePayload
    ) -> tuple[PushResult, str]:
        assert self._fcm is not None
        data = android_data(payload, request.urgency, request.page)
        fcm = await self._fcm.send(
            request.device.push_token, data, ttl_s=self._ttl_s, urgency=request.urgency
        )
        if fcm.invalid_argument:
            reason = _fcm_rejection_reason(fcm.error_code, fcm.status)
            await self._reject("fcm", json.dumps(data).encode(), reason)
            return PushResult(ok=False, detail="fcm INVALID_ARGUMENT"), "rejected"
        detail = "fcm 200" if fcm.ok else f"fcm {fcm.status} {fcm.error_code or ''}".strip()
        result = PushResult(ok=fcm.ok, detail=detail, device_gone=fcm.device_gone)
        if fcm.config_error and fcm.error_code is not None:
            code = fcm.error_code
            self._config_error("fcm", code, FCM_CONFIG_ERRORS[code])
            return result, "config_error"
        return result, _outcome(fcm.ok, fcm.device_gone, fcm.status or 0)

    async def _reject(self, provider: str, body: bytes, reason: str) -> None:
        log.error("%s refused a push as invalid; sent to the dead letters", provider)
        if self._on_rejected is not None:
            await self._on_rejected(provider, body, reason)


def _fcm_rejection_reason(error_code: str | None, status: int | None) -> str:
    """The dead-letter reason for a push FCM refused: codes only. FCM's error message
    (``fcm.detail``) can echo parts of the request, so it is never used, and an error
    code that is not an upper-case identifier is not trusted either."""
    code = error_code if error_code and _FCM_CODE.fullmatch(error_code) else "INVALID_ARGUMENT"
    return f"FCM {code} (HTTP {status})" if status else f"FCM {code}"


def _outcome(ok: bool, device_gone: bool, status: int) -> str:
    """A bounded label: ok, device_gone, retryable (provider trouble) or refused."""
    if ok:
        return "ok"
    if device_gone:
        return "device_gone"
    if is_retryable_status(status):
        return "retryable"
    return "refused"
