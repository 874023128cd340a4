"""Which push gateway the settings build; a missing credential is loud and escalates."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from redis.asyncio import Redis

from engine.adapters.dead_letters import DeadLetterWriter
from engine.adapters.push_setup import build_push
from engine.adapters.recording_push import RedisRecordingPushGateway
from engine.adapters.redis_keys import Keys
from engine.fakes import MemoryPublisher
from engine.metrics import Metrics
from engine.ports import PushRequest
from engine.push.gateway import ProviderPushGateway
from engine.push.message_vault import MessageVault
from engine.settings import load_settings
from engine.standins.virtual_device import VirtualDevice

NEVER_CONNECTED = "redis://127.0.0.1:1/0"  # nothing here is sent to Redis


def _build(tmp_path: Path, **settings: object):  # type: ignore[no-untyped-def]
    s = load_settings(
        state_dir=tmp_path, redis_url=NEVER_CONNECTED, allow_generated_keys=True, **settings
    )
    letters = DeadLetterWriter(MemoryPublisher(), MessageVault.generate_key().encode())
    return build_push(s, Redis.from_url(NEVER_CONNECTED), Keys("t"), Metrics(), letters)


def test_recording_gateway_needs_no_vault(tmp_path: Path) -> None:
    gateway, vault = _build(tmp_path, push_gateway="recording")
    assert isinstance(gateway, RedisRecordingPushGateway) and vault is None


async def test_providers_without_credentials_warn_and_fail_the_page(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        gateway, vault = _build(tmp_path, push_gateway="providers")
    assert isinstance(gateway, ProviderPushGateway) and vault is not None
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "NIGHTLINE_APNS_KEY_FILE" in warned and "NIGHTLINE_FCM_SERVICE_ACCOUNT_FILE" in warned
    for platform in ("ios", "android"):
        device = VirtualDevice("dr-ash", f"phone-{platform}", platform).device
        result = await gateway.send(PushRequest("d-1", device, "urgent", 0, 1, "x"))
        assert not result.ok and "no push provider" in result.detail


def test_apns_key_without_ids_is_a_clear_error(tmp_path: Path) -> None:
    key = tmp_path / "AuthKey.p8"
    key.write_text("not read before the check")
    with pytest.raises(ValueError, match="NIGHTLINE_APNS_KEY_ID"):
        _build(tmp_path, push_gateway="providers", apns_key_file=key)
