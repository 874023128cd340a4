"""The local Redis: our own ``redis-server`` process on ``settings.redis_port``.

Layout under ``{state_dir}/redis/``: the AOF (``appendonlydir/``), ``redis.pid`` and
``redis.log``. A Redis that a package manager runs as a service (Debian's listens on
6379) is never used or touched: we always start our own process on our own port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from engine.settings import Settings
from engine.stack import _process

__all__ = [
    "RedisError",
    "check_redis",
    "find_redis_server",
    "redis_running_pid",
    "start_redis",
    "stop_redis",
    "wait_redis",
]

_apt_updated = False


class RedisError(RuntimeError):
    """The local Redis could not be installed, started or reached."""


def _home(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "redis"


def find_redis_server() -> str:
    """Path of ``redis-server``; installed with apt-get when missing and we are root."""
    global _apt_updated
    found = shutil.which("redis-server")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise RedisError(
            "`redis-server` is not on PATH. Install it, e.g. `sudo apt-get install -y "
            "redis-server` (Debian/Ubuntu) or `brew install redis` (macOS), or set "
            "REDIS_URL to use an existing Redis."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = [[apt, "install", "-y", "--no-install-recommends", "redis-server"]]
    if not _apt_updated:
        steps.insert(0, [apt, "update"])
    for cmd in steps:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise RedisError(f"`{' '.join(cmd)}` failed:\n{tail}")
        _apt_updated = _apt_updated or cmd[1] == "update"
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        raise RedisError("apt-get installed redis-server but it is not on PATH")
    return found


def redis_running_pid(settings: Settings) -> int | None:
    """Pid of the local Redis started from this state dir, if it still runs."""
    return _process.live_pid(_home(settings) / "redis.pid")


def start_redis(settings: Settings) -> tuple[int, bool]:
    """Spawn the local Redis unless ours already runs: (pid, reused). Does not wait."""
    pid = redis_running_pid(settings)
    if pid is not None:
        return pid, True
    if _process.port_open(settings.redis_port):
        raise RedisError(
            f"port {settings.redis_port} is taken by a process not started from "
            f"{settings.state_dir}; pick another NIGHTLINE_REDIS_PORT"
        )
    home = _home(settings)
    home.mkdir(parents=True, exist_ok=True)
    cmd = [
        find_redis_server(),
        "--port",
        str(settings.redis_port),
        "--bind",
        "127.0.0.1",
        "--appendonly",
        "yes",
        "--dir",
        str(home),
        "--daemonize",
        "no",
        "--logfile",
        "",  # stdout, which spawn() appends to redis.log
    ]
    return _process.spawn(cmd, home / "redis.log", home / "redis.pid", cwd=home), False


def check_redis(url: str, timeout_s: float = 2.0) -> str | None:
    """One PING; None when healthy, else the reason."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        return None if client.ping() else "PING was not answered with PONG"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()


def wait_redis(settings: Settings, timeout_s: float = 30.0) -> None:
    """Retry :func:`check_redis` until it passes; raise with the log tail on timeout."""
    local = settings.local_redis
    log = _home(settings) / "redis.log"
    reason: list[str | None] = ["not tried"]

    def ready() -> bool:
        if local and redis_running_pid(settings) is None:
            raise RedisError(
                f"the local Redis exited during start-up; log {log}:\n{_process.log_tail(log)}"
            )
        reason[0] = check_redis(settings.redis_dsn)
        return reason[0] is None

    if not _process.wait_until(ready, timeout_s, interval=0.1):
        where = f"; log {log}:\n{_process.log_tail(log)}" if local else ""
        raise RedisError(
            f"Redis at {settings.redis_dsn} not ready after {timeout_s:.0f} s "
            f"(last error: {reason[0]}){where}"
        )


def stop_redis(settings: Settings, timeout_s: float = 15.0) -> int | None:
    """Stop our local Redis (SIGTERM, SIGKILL after ``timeout_s``): the pid stopped or None."""
    return _process.terminate(_home(settings) / "redis.pid", timeout_s)
