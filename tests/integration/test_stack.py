"""The local stack itself: a SECOND Kafka + Redis in a temporary state dir on free ports.

It shares only the cached jars with the stack that `make test` runs, so both can be up
at once. Checks a real Kafka round trip, Redis PING and its AOF, idempotent ``up``,
``status``, and that ``down`` leaves no process behind. Each test brings the stack up
itself (reused when running), so no test depends on another having run before it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from engine.settings import Settings, load_settings
from engine.stack import StackInfo, stack_down, stack_status, stack_up

pytestmark = pytest.mark.integration


def _free_ports(count: int) -> list[int]:
    with ExitStack() as stack:  # hold all sockets open so the ports are distinct
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"


@pytest.fixture(scope="module")
def second_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings of a second stack (own state dir, free ports), stopped after the module."""
    kafka_port, controller_port, redis_port = _free_ports(3)
    settings = load_settings(
        state_dir=tmp_path_factory.mktemp("second-stack"),
        kafka_port=kafka_port,
        kafka_controller_port=controller_port,
        redis_port=redis_port,
        kafka_bootstrap_servers=None,  # ignore KAFKA_BOOTSTRAP_SERVERS / REDIS_URL if set
        redis_url=None,
    )
    try:
        yield settings
    finally:
        stack_down(settings)


@pytest.fixture(scope="module")
def first_up(second_settings: Settings) -> StackInfo:
    """What the module's first ``stack up`` reported."""
    return stack_up(second_settings, timeout_s=120)


@pytest.fixture()
def second_stack(second_settings: Settings, first_up: StackInfo) -> tuple[Settings, StackInfo]:
    """The second stack, running: each test gets it up whatever ran before it (an ``up``
    of a running stack reuses it; one that an earlier test stopped starts again)."""
    return second_settings, stack_up(second_settings, timeout_s=120)


def test_up_starts_both_processes(second_settings: Settings, first_up: StackInfo) -> None:
    settings, info = second_settings, first_up
    assert (info.kafka_state, info.redis_state) == ("started", "started")
    assert info.kafka_servers == f"127.0.0.1:{settings.kafka_port}"
    assert info.redis_url == f"redis://127.0.0.1:{settings.redis_port}/0"
    assert (settings.state_dir / "kafka" / "data" / "meta.properties").exists()


def test_kafka_round_trip(second_stack: tuple[Settings, StackInfo]) -> None:
    settings, _ = second_stack
    topic = f"stack-test-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        assert topic in admin.list_topics()
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    try:
        producer.send(topic, key=b"k", value=b"hello nightline").get(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_servers,
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )
    try:
        record = next(iter(consumer))
    finally:
        consumer.close()
    assert (record.key, record.value) == (b"k", b"hello nightline")


def test_redis_ping_and_aof(second_stack: tuple[Settings, StackInfo]) -> None:
    settings, _ = second_stack
    client = redis.Redis.from_url(settings.redis_dsn)
    try:
        assert client.ping()
        client.set("stack-test", "1")
    finally:
        client.close()
    aof_dir = settings.state_dir / "redis" / "appendonlydir"
    assert any(aof_dir.glob("*.aof")), f"no AOF in {aof_dir}"


def test_up_again_reuses_and_status_is_healthy(second_stack: tuple[Settings, StackInfo]) -> None:
    settings, first = second_stack
    again = stack_up(settings)
    assert (again.kafka_state, again.redis_state) == ("reused", "reused")
    assert (again.kafka_pid, again.redis_pid) == (first.kafka_pid, first.redis_pid)
    status = stack_status(settings)
    assert all(item["healthy"] for item in status.values()), status


def test_down_stops_the_processes(second_stack: tuple[Settings, StackInfo]) -> None:
    settings, info = second_stack
    assert info.kafka_pid is not None and info.redis_pid is not None
    stopped = stack_down(settings)
    assert stopped == {"kafka": info.kafka_pid, "redis": info.redis_pid}
    assert _gone(info.kafka_pid) and _gone(info.redis_pid)
    assert not (settings.state_dir / "kafka" / "kafka.pid").exists()
    status = stack_status(settings)
    assert not any(item["healthy"] for item in status.values())
    assert stack_down(settings) == {"kafka": None, "redis": None}
