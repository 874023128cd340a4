"""A scenario harness for integration tests: a real worker process on the real
Kafka and Redis, a synthetic practice, virtual devices (the recording push
gateway), the shared test clock, and readers for every output topic."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.request import urlopen

import redis
from kafka import KafkaConsumer, TopicPartition

from engine.adapters.redis_keys import Keys
from engine.domain.practice import Practice
from engine.ports import Device
from engine.producer import NightlineProducer, ensure_topics
from engine.schemas.catalogue import spec
from engine.schemas.codec import decode
from engine.settings import Settings

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


class Harness:
    """One isolated deployment (its own topic prefix, consumer group, Redis keys)."""

    def __init__(
        self, base: Settings, log_dir: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        self.extra_env = dict(extra_env or {})
        self.prefix = f"nltest-{uuid.uuid4().hex[:10]}"
        self.settings = base.model_copy(
            update={
                "topic_prefix": self.prefix,
                "app_id": self.prefix,
                "web_port": free_port(),
                "topic_partitions": 2,
            }
        )
        self.keys = Keys(self.prefix)
        self.redis = redis.Redis.from_url(self.settings.redis_dsn)
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        ensure_topics(self.settings.kafka_servers, self.prefix, 2, 1)
        self.producer = NightlineProducer(self.settings.kafka_servers, self.prefix)
        self._consumers: dict[str, KafkaConsumer] = {}
        self._seen: dict[str, list[Any]] = {}

    # --- the worker ------------------------------------------------------------
    def env(self) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTLINE_")}
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": s.kafka_servers,
                "REDIS_URL": s.redis_dsn,
                "NIGHTLINE_TOPIC_PREFIX": self.prefix,
                "NIGHTLINE_APP_ID": self.prefix,
                "NIGHTLINE_WEB_PORT": str(s.web_port),
                "NIGHTLINE_TOPIC_PARTITIONS": "2",
                "NIGHTLINE_CLOCK": "redis-offset",
                "NIGHTLINE_STATE_DIR": str(self.log_dir),
                "NIGHTLINE_TIMER_LEASE_S": "3",
                "NIGHTLINE_KAFKA_SESSION_TIMEOUT_S": "6",
                "NIGHTLINE_PUSH_GATEWAY": "recording",
                "NIGHTLINE_ALLOW_GENERATED_KEYS": "1",  # one machine: keys in the state dir
                **self.extra_env,
            }
        )
        return env

    def start_worker(self) -> None:
        log = open(self.log_dir / f"worker-{self.prefix}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "worker"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Ready when the worker's /readyz answers 200: its agents have their partitions
        and consume, its practice cache has read the practices topic, Redis answers."""
        url = f"http://127.0.0.1:{self.settings.web_port}/readyz"

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"worker exited:\n{self.log_text()[-3000:]}")
            try:
                with urlopen(url, timeout=5) as response:
                    return bool(response.status == 200)
            except OSError:  # not listening yet, or 503 (HTTPError is an OSError)
                return False

        wait_for(ready, timeout, "the worker's /readyz")

    def kill_worker(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)
        self.process = None

    def spawn_worker(self, name: str) -> subprocess.Popen[bytes]:
        """Another worker process of this deployment, for fail-over tests: same topics,
        consumer group, Redis keys, clock and dead-letter key, but its own web port, state
        dir and log (``<log_dir>/<name>/worker.log``). Not waited for; the caller stops it
        (``os.killpg(process.pid, signal)``)."""
        from engine.adapters.deployment_keys import (
            DEAD_LETTER_KEY,
            VAULT_KEY,
            load_or_create_key_file,
        )

        own = self.log_dir / name
        own.mkdir(parents=True, exist_ok=True)
        shared = {  # every worker of a deployment shares its keys
            spec.setting: load_or_create_key_file(self.log_dir / spec.file_name).decode()
            for spec in (DEAD_LETTER_KEY, VAULT_KEY)
        }
        env = {
            **self.env(),
            "NIGHTLINE_WEB_PORT": str(free_port()),
            "NIGHTLINE_STATE_DIR": str(own),
            **shared,
        }
        log = open(own / "worker.log", "ab")  # noqa: SIM115
        return subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_text(self) -> str:
        return (self.log_dir / f"worker-{self.prefix}.log").read_text(errors="replace")

    def close(self) -> None:
        if self.process is not None:
            self.kill_worker(signal.SIGTERM)
        for consumer in self._consumers.values():
            consumer.close()
        self.producer.close()

    # --- inputs ------------------------------------------------------------------
    def load_practice(self, practice: Practice, devices: list[Device]) -> None:
        """Test setup: the practice, and phones as if their apps had registered them (in
        the clinicians' device hashes and the owner index)."""
        from dataclasses import asdict

        for device in devices:
            owner = self.redis.hget(self.keys.device_owners, device.device_id)
            assert owner in (None, device.clinician_id.encode()), f"{device.device_id} is taken"
        pipe = self.redis.pipeline()
        pipe.set(self.keys.practice(practice.practice_id), practice.model_dump_json())
        pipe.sadd(self.keys.practices, practice.practice_id)
        for device in devices:
            pipe.hset(self.keys.device_owners, device.device_id, device.clinician_id)
            pipe.hset(
                self.keys.devices(device.clinician_id), device.device_id, json.dumps(asdict(device))
            )
        pipe.execute()

    def advance_clock(self, seconds: float) -> None:
        self.redis.incrbyfloat(self.keys.clock_offset, seconds)
        time.sleep(0.2)  # workers pick the offset up every 50 ms

    # --- outputs -------------------------------------------------------------------
    def pushes(self, dispatch_id: str | None = None) -> list[dict[str, Any]]:
        rows = [json.loads(r) for r in self.redis.lrange(self.keys.recorded_pushes, 0, -1)]
        return [r for r in rows if dispatch_id is None or r["dispatch_id"] == dispatch_id]

    def read(self, topic: str) -> list[Any]:
        """Every event on a topic so far (decoded with its contract)."""
        consumer = self._consumers.get(topic)
        if consumer is None:
            consumer = KafkaConsumer(
                bootstrap_servers=self.settings.kafka_servers,
                enable_auto_commit=False,
                group_id=None,
            )
            name = f"{self.prefix}.{topic}"
            parts = [
                TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])
            ]
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            self._consumers[topic] = consumer
            self._seen[topic] = []
        for records in consumer.poll(timeout_ms=100, max_records=10_000).values():
            for record in records:
                self._seen[topic].append(decode(spec(topic).adapter, record.value))
        return list(self._seen[topic])

    def dead_letter_raw(self, letter: Any) -> str:
        from cryptography.fernet import Fernet

        from engine.adapters.deployment_keys import DEAD_LETTER_KEY, read_key_file

        key = read_key_file(self.log_dir / DEAD_LETTER_KEY.file_name)
        assert key is not None, "the worker has not made its dead-letter key yet"
        return Fernet(key).decrypt(letter.raw_encrypted.encode()).decode(errors="replace")
