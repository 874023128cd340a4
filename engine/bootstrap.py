"""Build the adapters a worker needs from its settings (the only place that
knows which concrete class stands behind each port)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from engine.adapters.clocks import RedisOffsetClock, SystemClock
from engine.adapters.dead_letters import DeadLetterWriter, dead_letter_key
from engine.adapters.kafka_publisher import FaustPublisher, TopicAuditSink
from engine.adapters.practice_cache import PracticeCache
from engine.adapters.push_setup import build_push
from engine.adapters.redis_client import connect_redis
from engine.adapters.redis_directory import RedisDeviceDirectory
from engine.adapters.redis_dispatches import COMPLETE_EFFECTS, MARK_SENT
from engine.adapters.redis_keys import Keys
from engine.adapters.redis_store import RedisDispatchStore, RedisHeldStore, RedisTimerIndex
from engine.handlers.services import Services
from engine.metrics import Metrics
from engine.ports import Clock
from engine.settings import Settings

__all__ = ["Runtime", "build_runtime"]


class Runtime:
    """Services plus the handles the app needs for its periodic tasks."""

    def __init__(
        self,
        services: Services,
        redis: Redis,
        practices: PracticeCache,
        clock: Clock,
        dead_letters: DeadLetterWriter,
    ) -> None:
        self.services = services
        self.redis = redis
        self.practices = practices
        self.clock = clock
        self.dead_letters = dead_letters


def build_runtime(settings: Settings, topics: Mapping[str, Any]) -> Runtime:
    redis = connect_redis(settings)
    # Completing an effect, or noting a device its push reached, twice is harmless.
    redis.allow_repeat(COMPLETE_EFFECTS)
    redis.allow_repeat(MARK_SENT)
    keys = Keys(settings.topic_prefix)
    clock: Clock = (
        RedisOffsetClock(redis, keys.clock_offset)
        if settings.clock == "redis-offset"
        else SystemClock()
    )
    practices = PracticeCache(redis, keys, settings.kafka_servers, settings.topic("practices"))
    publisher = FaustPublisher(topics)
    metrics = Metrics()
    dead_letters = DeadLetterWriter(publisher, dead_letter_key(settings))
    push, vault = build_push(settings, redis, keys, metrics, dead_letters)
    directory = RedisDeviceDirectory(redis, keys)
    services = Services(
        clock=clock,
        practices=practices,
        devices=directory,
        push=push,
        dispatches=RedisDispatchStore(redis, keys),
        held=RedisHeldStore(redis, keys),
        timers=RedisTimerIndex(redis, keys),
        publisher=publisher,
        audit=TopicAuditSink(publisher),
        metrics=metrics,
        dedupe_ttl_s=settings.dedupe_ttl_s,
        timer_lease_s=settings.timer_lease_s,
        effect_lease_s=settings.effect_lease_s,
        receipt_timeout_s=settings.receipt_timeout_s,
        vault=vault,
        push_wait_s=settings.push_wait_s,
        desk_timeout_s=settings.desk_ack_timeout_s,
        default_desk=settings.default_operator_desk,
        device_registry=directory,
    )
    return Runtime(services, redis, practices, clock, dead_letters)
