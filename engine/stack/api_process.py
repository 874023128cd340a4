"""The API (``nightline api``) as a local stack process, for ``make run`` and demos.

``nightline stack up`` starts it on ``NIGHTLINE_API_PORT`` after Kafka and Redis, with the
same environment, logging to ``{state_dir}/api/api.log``; ``stack down`` stops it. With
the default ``NIGHTLINE_API_TLS=self-signed`` it serves HTTPS with a certificate whose CA
is ``{state_dir}/api-tls/ca.pem``.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

from engine.settings import Settings
from engine.stack import _process

__all__ = ["ApiStartError", "api_report", "start_api", "stop_api"]


class ApiStartError(RuntimeError):
    """The API could not be started."""


def _home(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "api"


def start_api(settings: Settings, timeout_s: float = 60.0) -> tuple[int, bool]:
    """Start (or reuse) the API and wait until it listens: ``(pid, reused)``."""
    home = _home(settings)
    home.mkdir(parents=True, exist_ok=True)
    pid_file, log = home / "api.pid", home / "api.log"
    pid = _process.live_pid(pid_file)
    if pid is not None:
        return pid, True
    if _process.port_open(settings.api_port):
        raise ApiStartError(f"port {settings.api_port} for the API is taken")
    cmd = [sys.executable, "-m", "engine.cli", "api"]
    pid = _process.spawn(cmd, log, pid_file, cwd=Path.cwd())
    if not _process.wait_until(partial(_process.port_open, settings.api_port), timeout_s):
        raise ApiStartError(f"the API is not listening; log {log}:\n{_process.log_tail(log)}")
    return pid, False


def stop_api(settings: Settings) -> int | None:
    return _process.terminate(_home(settings) / "api.pid", 10.0)


def api_report(settings: Settings) -> dict[str, Any] | None:
    """The :func:`engine.stack.stack_status` row of the API, when it runs here."""
    pid = _process.live_pid(_home(settings) / "api.pid")
    if pid is None:
        return None
    listening = _process.port_open(settings.api_port)
    return {
        "address": f"127.0.0.1:{settings.api_port}",
        "mode": "local",
        "pid": pid,
        "healthy": listening,
        "error": None if listening else f"not listening on {settings.api_port}",
    }
