"""The worker's Redis client on a real Redis: commands issued together travel as one
pipeline, and every caller still gets its own reply, its own error, and scripts that
load themselves (engine/adapters/redis_batching.py, engine/adapters/redis_client.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import DataError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.adapters.redis_client import WorkerRedis, connect_redis
from engine.settings import Settings


@pytest.fixture()
async def client(stack_settings: Settings) -> AsyncIterator[tuple[WorkerRedis, str]]:
    redis = connect_redis(stack_settings)
    prefix = f"nltest-batch-{uuid.uuid4().hex[:10]}"
    yield redis, prefix
    stale = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
    if stale:
        await redis.delete(*stale)
    await redis.aclose()


async def test_concurrent_commands_share_pipelines_and_keep_their_replies(
    client: tuple[WorkerRedis, str],
) -> None:
    redis, prefix = client
    before = redis.batcher.pipelines_sent
    await asyncio.gather(*(redis.set(f"{prefix}:k{i}", f"v{i}") for i in range(200)))
    values = await asyncio.gather(*(redis.get(f"{prefix}:k{i}") for i in range(200)))
    assert values == [f"v{i}".encode() for i in range(200)]
    assert redis.batcher.pipelines_sent - before <= 4  # 400 commands, two turns


async def test_an_error_reply_reaches_only_its_caller(client: tuple[WorkerRedis, str]) -> None:
    redis, prefix = client
    await redis.set(f"{prefix}:plain", "x")
    results = await asyncio.gather(
        redis.hset(f"{prefix}:h", "f", "1"),
        redis.hget(f"{prefix}:plain", "f"),  # WRONGTYPE
        redis.get(f"{prefix}:plain"),
        return_exceptions=True,
    )
    assert results[0] == 1 and results[2] == b"x"
    assert isinstance(results[1], ResponseError) and "WRONGTYPE" in str(results[1])


async def test_scripts_load_themselves_inside_a_pipeline(client: tuple[WorkerRedis, str]) -> None:
    redis, prefix = client
    script = redis.register_script(
        "return redis.call('INCRBY', KEYS[1], ARGV[1])  -- " + uuid.uuid4().hex
    )
    await redis.script_flush()  # every EVALSHA of the first pipeline answers NOSCRIPT
    totals = await asyncio.gather(*(script(keys=[f"{prefix}:n"], args=[1]) for _ in range(20)))
    assert sorted(int(t) for t in totals) == list(range(1, 21))


async def test_transactions_beside_batched_commands(client: tuple[WorkerRedis, str]) -> None:
    redis, prefix = client

    async def transfer() -> list[object]:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(f"{prefix}:a").decr(f"{prefix}:b")
            return list(await pipe.execute())

    results = await asyncio.gather(transfer(), redis.get(f"{prefix}:a"), transfer())
    assert results[0] == [1, -1] and results[2] == [2, -2]
    assert await redis.mget(f"{prefix}:a", f"{prefix}:b") == [b"2", b"-2"]


async def test_an_argument_that_cannot_be_sent_fails_only_its_command(
    client: tuple[WorkerRedis, str],
) -> None:
    redis, prefix = client
    results = await asyncio.gather(
        redis.set(f"{prefix}:a", "1"),
        redis.set(f"{prefix}:b", None),  # type: ignore[arg-type]  # not encodable
        redis.set(f"{prefix}:c", "3"),
        return_exceptions=True,
    )
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], DataError)
    assert await redis.mget(f"{prefix}:a", f"{prefix}:b", f"{prefix}:c") == [b"1", None, b"3"]


async def test_after_a_deadline_the_next_commands_get_their_own_replies(
    client: tuple[WorkerRedis, str], stack_settings: Settings
) -> None:
    """Redis holds every client for 0.6 s; the deadline is 0.2 s. The commands caught in
    it fail as timeouts (transient), and their replies, arriving late, never reach the
    commands sent after."""
    redis, prefix = client
    await redis.set(f"{prefix}:x", "x")
    redis.deadline_s = 0.2
    admin = connect_redis(stack_settings)
    try:
        await admin.execute_command("CLIENT", "PAUSE", 600, "ALL")
        caught = await asyncio.gather(
            *(redis.incr(f"{prefix}:n{i}") for i in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, RedisTimeoutError) for r in caught)
        await asyncio.sleep(0.7)  # the pause ends; the late replies arrive on closed sockets
        redis.deadline_s = 5.0
        values = await asyncio.gather(
            redis.get(f"{prefix}:x"), *(redis.get(f"{prefix}:n{i}") for i in range(5))
        )
        assert values[0] == b"x"
        assert all(v in (None, b"1") for v in values[1:])  # each its own key's reply
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
