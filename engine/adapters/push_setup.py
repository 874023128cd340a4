"""Build the push gateway the settings ask for: recording (no push) or the providers.

With ``push_gateway=providers``, APNs is set up when an auth key is configured and
FCM when a service account is; a platform without a provider is never pushed (its
devices count as unreachable, so the dispatch escalates). Message content for the
pushes is kept in an encrypted :class:`~engine.push.message_vault.MessageVault`.
"""

from __future__ import annotations

import logging

import httpx
from redis.asyncio import Redis

from engine.adapters.dead_letters import DeadLetterWriter
from engine.adapters.deployment_keys import VAULT_KEY, deployment_key
from engine.adapters.recording_push import RedisRecordingPushGateway
from engine.adapters.redis_directory import RedisDeviceDirectory
from engine.adapters.redis_keys import Keys
from engine.metrics import Metrics
from engine.ports import PushGateway
from engine.push.apns import ApnsClient
from engine.push.apns_token import ApnsTokenProvider, load_p8_key
from engine.push.fcm import FcmClient
from engine.push.fcm_auth import AccessTokenProvider, ServiceAccount
from engine.push.gateway import ProviderPushGateway
from engine.push.message_vault import MessageVault
from engine.push.misconfiguration import DeactivationGuard
from engine.settings import Settings
from engine.stack.push_fakes import provider_settings

__all__ = ["build_push", "build_vault"]

log = logging.getLogger(__name__)


def build_vault(settings: Settings, redis: Redis) -> MessageVault:
    key = deployment_key(settings, VAULT_KEY, settings.vault_key)
    keys = [k.strip() for k in key.split(",") if k.strip()]
    return MessageVault(redis, settings.topic_prefix, keys, settings.vault_ttl_s)


def build_push(
    settings: Settings,
    redis: Redis,
    keys: Keys,
    metrics: Metrics,
    dead_letters: DeadLetterWriter,
) -> tuple[PushGateway, MessageVault | None]:
    """The gateway, and the vault the intake must fill (None when nothing is encrypted)."""
    if settings.push_gateway == "recording":
        return RedisRecordingPushGateway(redis, keys.recorded_pushes), None
    settings = provider_settings(settings)
    vault = build_vault(settings, redis)

    async def dead_letter(provider: str, body: bytes, reason: str) -> None:
        metrics.dead_letters.labels(f"push.{provider}", "push_rejected").inc()
        await dead_letters.write(f"push.{provider}", body, "push_rejected", reason)

    apns, fcm = _apns(settings, redis), _fcm(settings)
    for platform, client, needs in (
        ("iOS", apns, "NIGHTLINE_APNS_KEY_FILE"),
        ("Android", fcm, "NIGHTLINE_FCM_SERVICE_ACCOUNT_FILE"),
    ):
        if client is None:
            log.warning(
                "%s devices cannot be pushed (%s is not set): their pages fail and escalate",
                platform,
                needs,
            )
    gateway = ProviderPushGateway(
        vault,
        RedisDeviceDirectory(redis, keys),
        apns,
        fcm,
        on_rejected=dead_letter,
        observe=lambda provider, outcome: metrics.push_outcomes.labels(provider, outcome).inc(),
        observe_config_error=lambda p, reason: metrics.push_config_errors.labels(p, reason).inc(),
        observe_withheld=lambda p, _: metrics.push_deactivations_withheld.labels(p).inc(),
        ttl_s=settings.push_ttl_s,
        deadline_s=settings.push_deadline_s,
        guard=DeactivationGuard(
            burst=settings.push_gone_burst,
            fraction=settings.push_gone_fraction,
            window_s=settings.push_gone_window_s,
            pause_s=settings.push_gone_pause_s,
        ),
    )
    return gateway, vault


def _apns(settings: Settings, redis: Redis) -> ApnsClient | None:
    if settings.apns_key_file is None:
        return None
    if not (settings.apns_key_id and settings.apns_team_id):
        raise ValueError("NIGHTLINE_APNS_KEY_FILE needs NIGHTLINE_APNS_KEY_ID and _TEAM_ID")
    tokens = ApnsTokenProvider(
        load_p8_key(settings.apns_key_file),
        settings.apns_key_id,
        settings.apns_team_id,
        redis,
        key_prefix=f"{settings.topic_prefix}:apns:token",
    )
    verify: bool | str = str(settings.apns_ca_file) if settings.apns_ca_file else True
    # a third of the gateway's deadline per attempt (>= 1 s): a timed-out attempt is
    # retried within the deadline instead of the deadline always cutting it short
    attempt_s = max(1.0, settings.push_deadline_s / 3)
    return ApnsClient(
        settings.apns_url, settings.apns_topic, tokens, verify=verify, timeout_s=attempt_s
    )


def _fcm(settings: Settings) -> FcmClient | None:
    if settings.fcm_service_account_file is None:
        return None
    account = ServiceAccount.from_file(settings.fcm_service_account_file)
    project = settings.fcm_project_id or account.project_id
    if not project:
        raise ValueError("set NIGHTLINE_FCM_PROJECT_ID (the service account names none)")
    attempt_s = max(1.0, settings.push_deadline_s / 3)  # per attempt, as for APNs
    auth = AccessTokenProvider(account, httpx.AsyncClient(timeout=httpx.Timeout(attempt_s)))
    return FcmClient(settings.fcm_url, project, auth, timeout_s=attempt_s)
