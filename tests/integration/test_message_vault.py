"""The message vault on the real Redis: encrypted at rest, TTL, key rotation, tampering."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from engine.push.message_vault import MessageVault
from engine.push.payload import PushContent
from engine.schemas.intake import Urgency
from engine.settings import Settings

# Synthetic patient: every value is made up.
CONTENT = PushContent(
    dispatch_id="dsp-vault-1",
    urgency=Urgency.EMERGENCY,
    patient_name="Ulric Pemberforth",
    callback_number="+1-555-0199",
    message="Chest pain after synthetic test dose, callback requested",
    practice_name="Harborview Family Medicine",
)
PHI = (CONTENT.patient_name, CONTENT.callback_number, CONTENT.message, CONTENT.practice_name)


@pytest.fixture()
async def redis(stack_settings: Settings) -> AsyncIterator[tuple[Redis, str]]:
    client = Redis.from_url(stack_settings.redis_dsn)
    prefix = f"test-vault-{uuid.uuid4().hex}"
    yield client, prefix
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_round_trip_never_stores_clear_text(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    vault = MessageVault(client, prefix, MessageVault.generate_key(), ttl_s=600)
    await vault.put(CONTENT)
    assert await vault.get("dsp-vault-1") == CONTENT
    stored = await client.get(f"{prefix}:vault:dsp-vault-1")
    assert stored is not None
    assert not any(value.encode() in stored for value in PHI)
    assert 590 <= await client.ttl(f"{prefix}:vault:dsp-vault-1") <= 600
    assert await vault.get("dsp-unknown") is None


async def test_a_practice_retention_sets_the_ttl(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    vault = MessageVault(client, prefix, MessageVault.generate_key(), ttl_s=600)
    await vault.put(CONTENT, ttl_s=48 * 3600)
    assert 48 * 3600 - 10 <= await client.ttl(f"{prefix}:vault:dsp-vault-1") <= 48 * 3600


async def test_forget(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    vault = MessageVault(client, prefix, MessageVault.generate_key(), ttl_s=60)
    await vault.put(CONTENT)
    await vault.forget("dsp-vault-1")
    assert await vault.get("dsp-vault-1") is None


async def test_key_rotation(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    old_key, new_key = MessageVault.generate_key(), MessageVault.generate_key()
    await MessageVault(client, prefix, old_key, ttl_s=60).put(CONTENT)
    rotated = MessageVault(client, prefix, [new_key, old_key], ttl_s=60)
    assert await rotated.get("dsp-vault-1") == CONTENT
    assert await MessageVault(client, prefix, new_key, ttl_s=60).get("dsp-vault-1") is None


async def test_tampered_or_swapped_records_read_as_missing(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    vault = MessageVault(client, prefix, MessageVault.generate_key(), ttl_s=60)
    await vault.put(CONTENT)
    token = await client.get(f"{prefix}:vault:dsp-vault-1")
    await client.set(f"{prefix}:vault:dsp-other", token)  # moved under another dispatch
    assert await vault.get("dsp-other") is None
    await client.set(f"{prefix}:vault:dsp-vault-1", token[:-4] + b"AAAA")
    assert await vault.get("dsp-vault-1") is None


async def test_expiry(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    vault = MessageVault(client, prefix, MessageVault.generate_key(), ttl_s=60)
    await vault.put(CONTENT)
    await client.pexpire(f"{prefix}:vault:dsp-vault-1", 1)
    await asyncio.sleep(0.05)
    assert await vault.get("dsp-vault-1") is None


def test_constructor_validates() -> None:
    with pytest.raises(ValueError):
        MessageVault(None, "p", MessageVault.generate_key(), ttl_s=0)
    with pytest.raises(ValueError):
        MessageVault(None, "p", [], ttl_s=60)
