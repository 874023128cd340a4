"""The worker's Redis client: timeouts, TCP keepalive, connection health checks, commands
sent together when issued together (:mod:`engine.adapters.redis_batching`), and
repeats only where a repeat cannot do anything twice.

A command whose connection fails after it was sent may or may not have run. redis-py
can repeat every command after a connection error; for a write that is not safe (a
repeated timer claim finds nothing due and the firing waits a whole lease). So the
connections never repeat on their own, and :class:`WorkerRedis` repeats, with a
short jittered backoff, only reads and the scripts it was told are idempotent.
Writes fail to their caller: a handler's retry decides again on fresh state (the
version check on every dispatch commit makes that safe).

After a connection error the idle pooled connections are dropped too, so a Redis
restart costs one failed call, not one per connection in the pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import Awaitable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.utils import HIREDIS_AVAILABLE

from engine.adapters.redis_batching import CommandBatcher
from engine.settings import Settings

__all__ = ["READ_COMMANDS", "WorkerRedis", "connect_redis"]


def _hiredis_packs() -> bool:
    """hiredis is there and new enough to pack commands."""
    try:
        import hiredis
    except ImportError:
        return False
    return hasattr(hiredis, "pack_command")


_HIREDIS_PACKS = HIREDIS_AVAILABLE and _hiredis_packs()

READ_COMMANDS = frozenset(
    {
        "PING", "GET", "MGET", "EXISTS", "TTL", "PTTL", "TYPE", "STRLEN",
        "HGET", "HMGET", "HGETALL", "HEXISTS", "HKEYS", "HVALS", "HLEN", "HSCAN",
        "ZCARD", "ZSCORE", "ZRANGE", "ZRANGEBYSCORE", "ZRANK", "ZCOUNT", "ZSCAN",
        "SMEMBERS", "SISMEMBER", "SCARD", "SSCAN", "LRANGE", "LLEN", "LINDEX", "SCAN",
        "SCRIPT LOAD",  # loading the same script twice is harmless
    }
)  # fmt: skip
"""Commands that change nothing, so repeating them after a connection error is safe."""

_READ_REPEATS = 3
_KEEPALIVE = {"TCP_KEEPIDLE": 30, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}
T = TypeVar("T")


async def _within(deadline_s: float | None, call: Awaitable[T]) -> T:
    """``call`` with a deadline; running out is redis-py's TimeoutError (transient). The
    connection it interrupted is closed by redis-py (no stray reply reaches anyone)."""
    if deadline_s is None:
        return await call
    try:
        async with asyncio.timeout(deadline_s):
            return await call
    except TimeoutError:
        raise RedisTimeoutError(f"no answer from Redis within {deadline_s:g} s") from None


class _DeadlinePipeline(Pipeline):
    """A pipeline (or transaction) answered within the client's deadline, as a whole."""

    deadline_s: float | None = None

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        return await _within(self.deadline_s, super().execute(raise_on_error))

    async def _execute_pipeline(
        self, connection: Any, commands: Any, raise_on_error: bool
    ) -> list[Any]:
        """redis-py's, but a failure half-way through the replies (a reply callback that
        raises) closes the connection, so no unread reply reaches a later command."""
        try:
            return list(await super()._execute_pipeline(connection, commands, raise_on_error))
        except ResponseError:  # raised after every reply was read
            raise
        except BaseException:
            await connection.disconnect(nowait=True)
            raise


class WorkerRedis(Redis):
    """``redis.asyncio.Redis`` that repeats reads and idempotent scripts after a
    connection error or timeout, and nothing else.

    ``deadline_s`` bounds each command, and each pipeline as a whole; the connections
    themselves have no read timeout, which redis-py would otherwise arm for every
    reply of a pipeline (a quarter of the client's CPU with hundreds of replies)."""

    deadline_s: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idempotent_shas: set[str] = set()
        self._repeat = Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), _READ_REPEATS)
        self.batcher = CommandBatcher(self._alone, self._pipelined, unsent=(DataError,))

    def allow_repeat(self, script: str) -> None:
        """Declare a Lua script idempotent: running it twice leaves what running it once does,
        even with other writers in between."""
        self._idempotent_shas.add(hashlib.sha1(script.encode()).hexdigest())

    def repeatable(self, args: tuple[Any, ...]) -> bool:
        name = str(args[0]).upper()
        if name == "EVALSHA":
            return len(args) > 1 and str(args[1]) in self._idempotent_shas
        return name in READ_COMMANDS

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        send = self.batcher.execute
        if self.repeatable(args):
            return await self._repeat.call_with_retry(
                lambda: send(*args, **options), self._after_failure
            )
        try:
            return await send(*args, **options)
        except RedisConnectionError as exc:
            await self._after_failure(exc)
            raise

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = _DeadlinePipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe.deadline_s = self.deadline_s
        return pipe

    async def _alone(self, *args: Any, **options: Any) -> Any:
        return await _within(self.deadline_s, super().execute_command(*args, **options))

    async def _pipelined(self, commands: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[Any]:
        """Commands sent together on one connection; replies (or errors) in order."""
        async with self.pipeline(transaction=False) as pipe:
            for args, options in commands:
                pipe.pipeline_execute_command(*args, **options)
            return await pipe.execute(raise_on_error=False)

    async def _after_failure(self, error: Exception) -> None:
        if isinstance(error, RedisConnectionError):  # the server went away: so did idle sockets
            await self.connection_pool.disconnect(inuse_connections=False)


class _PackedByHiredis:
    """Mixed into the pool's connection class: commands packed in C by hiredis (redis-py's
    own serializer, which its synchronous client uses; the asyncio connections pack in
    Python, about 30 us per command)."""

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        return self._packer.pack(*args)


def connect_redis(settings: Settings) -> WorkerRedis:
    """The worker's client for ``settings.redis_dsn`` (connections open lazily)."""
    keepalive = {
        getattr(socket, name): value for name, value in _KEEPALIVE.items() if hasattr(socket, name)
    }
    client = WorkerRedis.from_url(
        settings.redis_dsn,
        socket_timeout=None,  # the client's deadline_s, per command or pipeline
        socket_connect_timeout=settings.redis_connect_timeout_s,
        socket_keepalive=True,
        socket_keepalive_options=keepalive,
        health_check_interval=settings.redis_health_check_interval_s,
        retry=Retry(NoBackoff(), 0),
    )
    client.deadline_s = settings.redis_socket_timeout_s
    pool = client.connection_pool
    if _HIREDIS_PACKS and not issubclass(pool.connection_class, _PackedByHiredis):
        base = pool.connection_class
        pool.connection_class = type(f"Packed{base.__name__}", (_PackedByHiredis, base), {})
    return client
