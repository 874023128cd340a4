"""One isolated Nightline deployment for the bench: its own topic prefix (and so its own
Redis keys and consumer group), its practices and phones, and real worker processes
(``python -m engine.cli worker``) pushing to the fake APNs and FCM.

Workers get the environment the integration harness gives them, with the providers
gateway aimed at the fakes, ack timers at the system clock, no receipt timers (a page
the phones do not confirm would otherwise fail over after a minute and blur the
measurements) and the deployment's shared vault and dead-letter keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import redis
import redis.asyncio as aioredis
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from engine.adapters.deployment_keys import DEAD_LETTER_KEY, VAULT_KEY, load_or_create_key_file
from engine.adapters.practice_store import PracticeStore
from engine.adapters.redis_directory import RedisDeviceDirectory
from engine.adapters.redis_keys import Keys
from engine.producer import NightlineProducer, ensure_topics
from engine.settings import Settings

from .clinics import Clinic
from .fakes import PushFakes, free_port
from .metrics import Scrape, parse_scrape

__all__ = ["Deployment"]

_READY_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 20.0


class Deployment:
    """Topics, keys and ``workers`` worker processes under a fresh prefix."""

    def __init__(
        self, base: Settings, fakes: PushFakes, home: Path, workers: int, partitions: int
    ) -> None:
        self.prefix = f"nlbench-{uuid.uuid4().hex[:10]}"
        self.settings = base.model_copy(
            update={
                "topic_prefix": self.prefix,
                "app_id": self.prefix,
                "topic_partitions": partitions,
            }
        )
        self.keys = Keys(self.prefix)
        self.home = home / self.prefix
        self.fakes = fakes
        self.worker_count = workers
        self.redis = aioredis.Redis.from_url(self.settings.redis_dsn)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.web_ports: list[int] = []
        self._http = httpx.AsyncClient(timeout=30)

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    # --- workers -----------------------------------------------------------------
    def _env(self, state_dir: Path, web_port: int) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTLINE_")}
        shared = {
            spec.setting: load_or_create_key_file(self.home / spec.file_name).decode()
            for spec in (DEAD_LETTER_KEY, VAULT_KEY)
        }
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": s.kafka_servers,
                "REDIS_URL": s.redis_dsn,
                "NIGHTLINE_TOPIC_PREFIX": self.prefix,
                "NIGHTLINE_APP_ID": self.prefix,
                "NIGHTLINE_TOPIC_PARTITIONS": str(s.topic_partitions),
                "NIGHTLINE_WEB_PORT": str(web_port),
                "NIGHTLINE_STATE_DIR": str(state_dir),
                "NIGHTLINE_RECEIPT_TIMEOUT_S": "off",
                "NIGHTLINE_ALLOW_GENERATED_KEYS": "1",
                **shared,
                **self.fakes.worker_env(),
            }
        )
        tuning = "NIGHTLINE_BENCH_WORKER_"  # e.g. NIGHTLINE_BENCH_WORKER_AGENT_CONCURRENCY=512
        for name, value in os.environ.items():
            if name.startswith(tuning):
                env["NIGHTLINE_" + name.removeprefix(tuning)] = value
        return env

    async def start(self) -> None:
        """Create the topics, start the workers and wait until each is ready."""
        s = self.settings
        self.home.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(ensure_topics, s.kafka_servers, self.prefix, s.topic_partitions, 1)
        for n in range(1, self.worker_count + 1):
            state_dir, port = self.home / f"worker-{n}", free_port()
            state_dir.mkdir(exist_ok=True)
            self.processes.append(self._spawn(state_dir, port))
            self.web_ports.append(port)
        await asyncio.gather(*(self._ready(n) for n in range(self.worker_count)))

    def _spawn(self, state_dir: Path, port: int) -> subprocess.Popen[bytes]:
        log = (state_dir / "worker.log").open("ab")
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "worker"],
                env=self._env(state_dir, port),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

    async def kill_and_restart(self, n: int) -> float:
        """SIGKILL worker ``n`` (from 0) and start it again at once, as a supervisor
        would; returns the seconds until the new one was ready."""
        os.killpg(self.processes[n].pid, signal.SIGKILL)
        await asyncio.to_thread(self.processes[n].wait)
        began = time.monotonic()
        self.processes[n] = self._spawn(self.home / f"worker-{n + 1}", self.web_ports[n])
        await self._ready(n)
        return time.monotonic() - began

    async def _ready(self, n: int) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        url = f"http://127.0.0.1:{self.web_ports[n]}/readyz"
        while time.monotonic() < deadline:
            if self.processes[n].poll() is not None:
                raise RuntimeError(f"worker {n + 1} exited; see {self.home}/worker-{n + 1}")
            with contextlib.suppress(httpx.HTTPError):
                if (await self._http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"worker {n + 1} not ready after {_READY_TIMEOUT_S:.0f} s")

    def pids(self) -> dict[str, int]:
        return {f"worker-{n}": p.pid for n, p in enumerate(self.processes, 1) if p.poll() is None}

    async def stop(self) -> None:
        """SIGTERM each worker's process group; SIGKILL what is left after 20 s."""
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.to_thread(process.wait, _STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                await asyncio.to_thread(process.wait)
        self.processes.clear()

    # --- inputs --------------------------------------------------------------------
    async def add_clinics(self, clinics: list[Clinic]) -> None:
        """Store and publish each practice (as ``nightline schedule load`` does) and
        register its phones (as ``nightline device register --direct`` does)."""

        def store() -> None:
            client = redis.Redis.from_url(self.settings.redis_dsn)
            with NightlineProducer(self.settings.kafka_servers, self.prefix) as producer:
                practices = PracticeStore(client, self.keys, producer)
                for c in clinics:
                    practices.put(c.practice, actor="bench")
            client.close()

        await asyncio.to_thread(store)
        directory = RedisDeviceDirectory(self.redis, self.keys)
        for c in clinics:
            for phone in c.phones:
                await directory.register(phone.device)

    # --- outputs -------------------------------------------------------------------
    async def scrape(self) -> Scrape:
        """Every worker's ``/metrics``, summed."""
        texts = []
        for port in self.web_ports:
            response = await self._http.get(f"http://127.0.0.1:{port}/metrics")
            response.raise_for_status()
            texts.append(response.text)
        return parse_scrape(texts)

    async def lag(self, *topics: str) -> int:
        """Records of ``topics`` not yet committed by the workers' consumer group."""
        return await asyncio.to_thread(self._lag, [self.topic(t) for t in topics])

    def _lag(self, topics: list[str]) -> int:
        admin = KafkaAdminClient(bootstrap_servers=self.settings.kafka_servers)
        consumer = KafkaConsumer(bootstrap_servers=self.settings.kafka_servers)
        try:
            parts = [
                TopicPartition(t, p)
                for t in topics
                for p in sorted(consumer.partitions_for_topic(t) or [])
            ]
            ends = consumer.end_offsets(parts)
            committed = admin.list_group_offsets({self.prefix: parts}).get(self.prefix, {})
            done = {tp: max(0, m.offset) for tp, m in committed.items() if m is not None}
            return sum(end - done.get(tp, 0) for tp, end in ends.items())
        finally:
            consumer.close()
            admin.close()

    async def drained(self, timeout_s: float, *topics: str) -> bool:
        """Whether the workers caught up with ``topics`` within ``timeout_s`` (offsets
        are committed every half second, so a worker that is done shows lag briefly)."""
        deadline = time.monotonic() + timeout_s
        while await self.lag(*topics) > 0:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.5)
        return True

    async def pending_timers(self) -> int:
        return int(await self.redis.zcard(self.keys.timers))

    async def close(self, keep: bool) -> None:
        """Stop the workers; unless ``keep``, delete the topics and Redis keys."""
        await self.stop()
        await self._http.aclose()
        if not keep:
            batch: list[bytes] = []
            async for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    await self.redis.unlink(*batch)
                    batch.clear()
            if batch:
                await self.redis.unlink(*batch)
            await asyncio.to_thread(self._delete_topics)
        await self.redis.aclose()

    def _delete_topics(self) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.settings.kafka_servers)
        try:
            mine = [t for t in admin.list_topics() if t.startswith(self.prefix)]  # faust too
            if mine:
                admin.delete_topics(mine)
            with contextlib.suppress(KafkaError):  # e.g. a group that never committed
                admin.delete_groups([self.prefix])
        finally:
            admin.close()
