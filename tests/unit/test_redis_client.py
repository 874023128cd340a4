"""The worker's Redis client: its options, and which commands it repeats after a
connection error (engine/adapters/redis_client.py). The server side is a stub in
place of redis-py's own ``execute_command``; integration tests use a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.utils import HIREDIS_AVAILABLE

from engine.adapters.redis_client import WorkerRedis, connect_redis
from engine.adapters.redis_dispatches import COMMIT as _COMMIT
from engine.adapters.redis_dispatches import COMPLETE_EFFECTS as _COMPLETE_EFFECTS
from engine.settings import Settings

SETTINGS = Settings(
    redis_url="redis://127.0.0.1:1/0",
    redis_socket_timeout_s=4.0,
    redis_connect_timeout_s=1.5,
    redis_health_check_interval_s=7,
)


class Server:
    """Stands in for redis-py's execute_command: fails the first calls, then answers."""

    def __init__(self) -> None:
        self.failures: list[Exception] = []
        self.sent: list[tuple[Any, ...]] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(args)
        if self.failures:
            raise self.failures.pop(0)
        return b"ok"


@pytest.fixture()
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    stub = Server()
    monkeypatch.setattr(Redis, "execute_command", stub.execute_command)
    yield stub


@pytest.fixture()
def client() -> WorkerRedis:
    redis = connect_redis(SETTINGS)
    redis.allow_repeat(_COMPLETE_EFFECTS)
    return redis


def test_connections_get_timeouts_keepalive_health_checks_and_no_repeats() -> None:
    client = connect_redis(SETTINGS)
    kwargs = client.connection_pool.connection_kwargs
    assert client.deadline_s == 4.0  # per command or pipeline, not per socket read
    assert kwargs["socket_timeout"] is None
    assert kwargs["socket_connect_timeout"] == 1.5
    assert kwargs["health_check_interval"] == 7
    assert kwargs["socket_keepalive"] is True
    assert kwargs["retry"].get_retries() == 0  # redis-py itself never repeats a command


@pytest.mark.parametrize(
    ("args", "repeatable"),
    [
        (("GET", "k"), True),
        (("HMGET", "k", "a", "b"), True),
        (("ZCARD", "k"), True),
        (("PING",), True),
        (("SET", "k", "v", "NX"), False),
        (("RPUSH", "k", "v"), False),
        (("INCRBYFLOAT", "k", 1), False),
        (("EVALSHA", "0" * 40, 1, "k"), False),
    ],
)
def test_only_reads_are_repeatable(
    client: WorkerRedis, args: tuple[Any, ...], repeatable: bool
) -> None:
    assert client.repeatable(args) is repeatable


def test_scripts_are_repeatable_only_when_declared_idempotent(client: WorkerRedis) -> None:
    clear = client.register_script(_COMPLETE_EFFECTS)
    commit = client.register_script(_COMMIT)
    assert client.repeatable(("EVALSHA", clear.sha, 1, "k", "3"))
    assert not client.repeatable(("EVALSHA", commit.sha, 3, "a", "b", "c"))


async def test_a_read_is_repeated_after_a_connection_error(
    client: WorkerRedis, server: Server
) -> None:
    server.failures = [RedisConnectionError("reset"), RedisTimeoutError("slow")]
    assert await client.get("k") == b"ok"
    assert server.sent == [("GET", "k")] * 3


async def test_a_write_is_not_repeated(client: WorkerRedis, server: Server) -> None:
    server.failures = [RedisConnectionError("reset")]
    with pytest.raises(RedisConnectionError):
        await client.set("k", "v", nx=True)
    assert len(server.sent) == 1


async def test_an_idempotent_script_is_repeated_and_the_commit_is_not(
    client: WorkerRedis, server: Server
) -> None:
    server.failures = [RedisConnectionError("reset")]
    await client.register_script(_COMPLETE_EFFECTS)(keys=["d"], args=["3"])
    assert len(server.sent) == 2
    server.sent.clear()
    server.failures = [RedisConnectionError("reset")]
    with pytest.raises(RedisConnectionError):
        await client.register_script(_COMMIT)(keys=["d", "t", "u"], args=["0"])
    assert len(server.sent) == 1


async def test_a_connection_error_drops_the_idle_connections(
    client: WorkerRedis, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped: list[bool] = []

    async def disconnect(inuse_connections: bool = True) -> None:
        dropped.append(inuse_connections)

    monkeypatch.setattr(client.connection_pool, "disconnect", disconnect)
    server.failures = [RedisConnectionError("reset")]
    with pytest.raises(RedisConnectionError):
        await client.rpush("k", "v")
    server.failures = [RedisTimeoutError("slow")]  # a timeout says nothing of the others
    with pytest.raises(RedisTimeoutError):
        await client.rpush("k", "v")
    assert dropped == [False]


class Silent(Server):
    """A server that never answers."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(args)
        await asyncio.sleep(3600)


async def test_a_command_without_an_answer_fails_at_the_deadline_as_a_timeout(
    client: WorkerRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    silent = Silent()
    monkeypatch.setattr(Redis, "execute_command", silent.execute_command)
    client.deadline_s = 0.05
    with pytest.raises(RedisTimeoutError):
        await client.rpush("k", "v")  # a write: not repeated
    assert len(silent.sent) == 1
    with pytest.raises(RedisTimeoutError):
        await client.get("k")  # a read: repeated, then given up
    assert len(silent.sent) == 1 + 1 + 3


async def test_a_pipeline_without_an_answer_fails_at_the_deadline(
    client: WorkerRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never(self: Any, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(3600)

    monkeypatch.setattr(Pipeline, "execute", never)
    client.deadline_s = 0.05
    with pytest.raises(RedisTimeoutError):
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr("a")
            await pipe.execute()


def test_commands_are_packed_by_hiredis_when_it_is_there() -> None:
    connection = connect_redis(SETTINGS).connection_pool.make_connection()
    packed = b"".join(connection.pack_command("SET", "k", 1))
    assert packed == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n"
    assert ("Packed" in type(connection).__name__) is HIREDIS_AVAILABLE
