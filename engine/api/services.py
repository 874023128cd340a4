"""What the API's routes work with, built from the settings, and its start and stop.

The API shares the worker's adapters (Redis client, key layout, practice cache,
dispatch and held stores) so both read and write the same records the same way. It
never decides a dispatch itself: it publishes to the topics the worker consumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any, TypeVar

from cryptography.fernet import Fernet, MultiFernet
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from engine.adapters.clocks import RedisOffsetClock, SystemClock
from engine.adapters.deployment_keys import VAULT_KEY, deployment_key
from engine.adapters.practice_cache import PracticeCache
from engine.adapters.practice_store import PracticeStore
from engine.adapters.push_setup import build_vault
from engine.adapters.redis_client import connect_redis
from engine.adapters.redis_directory import RedisDeviceDirectory
from engine.adapters.redis_dispatches import RedisDispatchStore
from engine.adapters.redis_keys import Keys
from engine.adapters.redis_store import RedisHeldStore
from engine.api.accounts import AccountStore
from engine.api.api_keys import ApiKeyStore
from engine.api.desk_feed import DeskFeed
from engine.api.publishing import ApiPublisher
from engine.api.read_model import ReadModel
from engine.api.sessions import SessionStore
from engine.failures import describe_failure
from engine.ports import Clock
from engine.push.message_vault import MessageVault
from engine.settings import Settings

__all__ = ["ApiServices", "build_api_services"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ApiServices:
    settings: Settings
    redis: Redis
    keys: Keys
    clock: Clock
    publisher: ApiPublisher
    practices: PracticeCache
    api_keys: ApiKeyStore
    dispatches: RedisDispatchStore
    held: RedisHeldStore
    desk: DeskFeed
    read_model: ReadModel
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @cached_property
    def sealer(self) -> MultiFernet:
        """The deployment's vault keys (first one seals): what seals secrets at rest.
        Read on first use, so building the app (for its OpenAPI document) needs no key."""
        configured = deployment_key(self.settings, VAULT_KEY, self.settings.vault_key)
        return MultiFernet([Fernet(k.strip()) for k in configured.split(",") if k.strip()])

    @cached_property
    def _store_threads(self) -> ThreadPoolExecutor:
        """The practice store's own threads: its publishes wait on this event loop, so
        they must not hold the default executor that sign-ins and DNS lookups need."""
        return ThreadPoolExecutor(max_workers=2, thread_name_prefix="practice-store")

    async def run_store(self, call: Callable[..., T], *args: Any) -> T:
        """Run a practice-store call on its own threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._store_threads, partial(call, *args))

    def republish_later(self, practice_id: str) -> None:
        """A revision was stored but not published: publish it again until the broker
        has it, so the workers page from it (the client's retry would only get 412)."""

        async def until_published() -> None:
            while True:
                try:
                    await self.run_store(self.practice_store.republish, practice_id)
                    return
                except Exception as exc:
                    log.warning("practice %s not yet republished: %s", practice_id,
                                describe_failure(exc))  # fmt: skip
                    await asyncio.sleep(2.0)

        self._tasks.append(asyncio.get_running_loop().create_task(until_published()))

    @cached_property
    def practice_store(self) -> PracticeStore:
        """The authoritative practice store (synchronous: call it in a thread). It
        publishes through the API's own producer, waiting for the broker's ack."""
        sync_redis = SyncRedis.from_url(
            self.settings.redis_dsn,
            socket_timeout=self.settings.redis_socket_timeout_s,
            socket_connect_timeout=self.settings.redis_connect_timeout_s,
        )
        bridge = _ThreadPublisher(self.publisher, self.settings, asyncio.get_running_loop())
        return PracticeStore(sync_redis, self.keys, bridge, now=self.clock.now)

    @cached_property
    def vault(self) -> MessageVault:
        """Message content, encrypted at rest (the worker fills it at intake)."""
        return build_vault(self.settings, self.redis)

    @cached_property
    def devices(self) -> RedisDeviceDirectory:
        return RedisDeviceDirectory(self.redis, self.keys)

    @cached_property
    def accounts(self) -> AccountStore:
        return AccountStore(self.redis, self.keys, self.sealer)

    @cached_property
    def sessions(self) -> SessionStore:
        return SessionStore(self.redis, self.keys, self.accounts, self.settings)

    async def start(self) -> None:
        """Start the background parts; a missing vault key fails here, with the setting
        to set, rather than on the first request that needs it."""
        _ = self.sealer
        loop = asyncio.get_running_loop()
        self.publisher.start()
        self._tasks.append(loop.create_task(self.practices.run()))
        self._tasks.append(loop.create_task(self.desk.run()))
        self._tasks.append(loop.create_task(self.read_model.run()))
        if isinstance(self.clock, RedisOffsetClock):  # the shared test clock
            await self.clock.sync()
            self._tasks.append(loop.create_task(self.clock.run()))

    async def stop(self) -> None:
        await self.practices.stop()
        await self.desk.stop()
        await self.read_model.stop()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.publisher.stop()
        if "_store_threads" in self.__dict__:
            self._store_threads.shutdown(wait=False)
        await self.redis.aclose()


class _ThreadPublisher:
    """``PracticeStore``'s publisher, from its thread through the API's producer."""

    def __init__(
        self, publisher: ApiPublisher, settings: Settings, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._publisher, self._settings, self._loop = publisher, settings, loop

    def send_raw(self, topic: str, key: str, value: bytes, timeout_s: float = 10.0) -> None:
        call = self._publisher.publish(self._settings.topic(topic), key, value)
        asyncio.run_coroutine_threadsafe(call, self._loop).result(timeout_s)


def build_api_services(settings: Settings) -> ApiServices:
    redis = connect_redis(settings)
    keys = Keys(settings.topic_prefix)
    clock: Clock = (
        RedisOffsetClock(redis, keys.clock_offset)
        if settings.clock == "redis-offset"
        else SystemClock()
    )
    practices = PracticeCache(redis, keys, settings.kafka_servers, settings.topic("practices"))
    return ApiServices(
        settings=settings,
        redis=redis,
        keys=keys,
        clock=clock,
        publisher=ApiPublisher(settings.kafka_servers, deadline_s=settings.api_kafka_deadline_s),
        practices=practices,
        api_keys=ApiKeyStore(redis, keys),
        dispatches=RedisDispatchStore(redis, keys),
        held=RedisHeldStore(redis, keys),
        desk=DeskFeed(
            settings.kafka_servers,
            settings.topic("operator.alerts"),
            settings.topic("dispatch.state"),
            clock,
            settings.desk_ack_timeout_s,
        ),
        read_model=ReadModel(settings, redis, keys, practices),
    )
