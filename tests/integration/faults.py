"""Helpers for the fault tests: private Redis and Kafka instances that a test may stop
and start (never the shared stack), a Redis that accepts connections but never
answers, more workers for one deployment, and the worker's probe pages."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

from engine.settings import Settings, load_settings
from engine.stack.kafka import start_kafka, stop_kafka, wait_kafka
from engine.stack.redis_server import start_redis, stop_redis, wait_redis
from tests.integration.harness import Harness, free_port


def probe(port: int, path: str) -> tuple[int | None, dict[str, Any]]:
    """(status, JSON body) of a worker page; (None, {}) while nothing listens."""
    try:
        with urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return None, {}


def private_settings(state_dir: Path) -> Settings:
    """Local-stack settings on free ports in ``state_dir``, ignoring the shared stack's env."""
    return load_settings(
        state_dir=state_dir,
        redis_port=free_port(),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        kafka_bootstrap_servers=None,
        redis_url=None,
    )


@contextlib.contextmanager
def private_redis(state_dir: Path) -> Iterator[Settings]:
    """A Redis of the test's own (AOF on, as the stack runs it); stopped at the end."""
    settings = private_settings(state_dir)
    try:
        start_redis(settings)
        wait_redis(settings)
        yield settings
    finally:
        stop_redis(settings)


@contextlib.contextmanager
def private_kafka(state_dir: Path) -> Iterator[Settings]:
    """A single-node KRaft Kafka of the test's own; stopped at the end."""
    settings = private_settings(state_dir)
    try:
        start_kafka(settings)
        wait_kafka(settings, timeout_s=120)
        yield settings
    finally:
        stop_kafka(settings)


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers: its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()
        for conn in held:
            conn.close()


class ExtraWorker:
    """Another worker process of the harness's deployment, on its own web port."""

    def __init__(self, h: Harness, name: str) -> None:
        self.port = free_port()
        state = h.log_dir / name
        state.mkdir(exist_ok=True)
        env = {**h.env(), "NIGHTLINE_WEB_PORT": str(self.port), "NIGHTLINE_STATE_DIR": str(state)}
        self.log = state / "worker.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def readyz(self) -> tuple[int | None, dict[str, Any]]:
        return probe(self.port, "/readyz")

    def signal(self, sig: int) -> None:
        os.killpg(self.process.pid, sig)

    def stop(self, graceful: bool = True) -> None:
        """SIGTERM (SIGKILL after 30 s), or SIGKILL at once."""
        if self.process.poll() is not None:
            return
        self.signal(signal.SIGCONT)
        if graceful:
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
                return
        self.signal(signal.SIGKILL)
        self.process.wait(timeout=30)
