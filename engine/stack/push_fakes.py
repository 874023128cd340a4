"""The local fake APNs and FCM as stack processes, for ``make run`` and demos.

With ``NIGHTLINE_PUSH_GATEWAY=local-fakes`` the stack also runs ``fake-apns`` (HTTP/2
over TLS with its own CA) and ``fake-fcm`` on ``fake_apns_port`` / ``fake_fcm_port``,
keeping their key, certificates and service account under ``{state_dir}/push-fakes/``,
and :func:`provider_settings` points a worker (and ``nightline device``) at them: the
whole push path — JWT, HTTP/2, OAuth, encryption — runs, only the phones are virtual.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

from engine.settings import Settings
from engine.stack import _process

__all__ = [
    "FAKE_KEY_ID",
    "FAKE_TEAM_ID",
    "PushFakeError",
    "provider_settings",
    "push_fakes_report",
    "push_fakes_status",
    "start_push_fakes",
    "stop_push_fakes",
]

FAKE_KEY_ID, FAKE_TEAM_ID = "LOCALKEY01", "LOCALTEAM1"


class PushFakeError(RuntimeError):
    """A local push fake could not be started."""


def _home(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "push-fakes"


def provider_settings(settings: Settings) -> Settings:
    """``settings`` with the providers gateway aimed at the local fakes (if selected)."""
    if settings.push_gateway != "local-fakes":
        return settings
    home = _home(settings)
    return settings.model_copy(
        update={
            "push_gateway": "providers",
            "apns_url": f"https://127.0.0.1:{settings.fake_apns_port}",
            "apns_key_file": home / "apns-key.p8",
            "apns_key_id": FAKE_KEY_ID,
            "apns_team_id": FAKE_TEAM_ID,
            "apns_ca_file": home / "certs" / "ca.pem",
            "fcm_url": f"http://127.0.0.1:{settings.fake_fcm_port}",
            "fcm_service_account_file": home / "fcm-service-account.json",
        }
    )


def _commands(settings: Settings) -> dict[str, list[str]]:
    home = _home(settings)
    return {
        "fake-apns": [sys.executable, "-m", "engine.standins.fake_apns",
                      "--port", str(settings.fake_apns_port), "--cert-dir", str(home / "certs"),
                      "--key-file", str(home / "apns-key.p8"), "--key-id", FAKE_KEY_ID,
                      "--team-id", FAKE_TEAM_ID, "--topic", settings.apns_topic],
        "fake-fcm": [sys.executable, "-m", "engine.standins.fake_fcm",
                     "--port", str(settings.fake_fcm_port),
                     "--service-account-file", str(home / "fcm-service-account.json")],
    }  # fmt: skip


def _port(settings: Settings, name: str) -> int:
    return settings.fake_apns_port if name == "fake-apns" else settings.fake_fcm_port


def _ready(settings: Settings, name: str) -> bool:
    home = _home(settings)
    files = {
        "fake-apns": [home / "certs" / "ca.pem", home / "apns-key.p8"],
        "fake-fcm": [home / "fcm-service-account.json"],
    }[name]
    return _process.port_open(_port(settings, name)) and all(f.exists() for f in files)


def start_push_fakes(settings: Settings, timeout_s: float = 30.0) -> dict[str, tuple[int, bool]]:
    """Start (or reuse) both fakes and wait until they listen: ``{name: (pid, reused)}``."""
    home = _home(settings)
    home.mkdir(parents=True, exist_ok=True)
    started: dict[str, tuple[int, bool]] = {}
    for name, cmd in _commands(settings).items():
        pid_file, log = home / f"{name}.pid", home / f"{name}.log"
        pid = _process.live_pid(pid_file)
        if pid is not None:
            started[name] = (pid, True)
            continue
        if _process.port_open(_port(settings, name)):
            raise PushFakeError(f"port {_port(settings, name)} for {name} is taken")
        if name == "fake-fcm":
            _drop_stale_service_account(settings)
        pid = _process.spawn(cmd, log, pid_file, cwd=Path.cwd())
        started[name] = (pid, False)
    for name in started:
        log = home / f"{name}.log"
        if not _process.wait_until(partial(_ready, settings, name), timeout_s):
            raise PushFakeError(f"{name} not ready; log {log}:\n{_process.log_tail(log)}")
    _check_service_account(settings)
    return started


def _service_account(settings: Settings) -> tuple[Path, str]:
    """The fake-fcm service-account file and the token_uri it must hold for this port."""
    path = _home(settings) / "fcm-service-account.json"
    return path, f"http://127.0.0.1:{settings.fake_fcm_port}/token"


def _drop_stale_service_account(settings: Settings) -> None:
    """Before a new fake-fcm starts: remove a service account written for another port.

    The fake loads an existing file as it is and writes one (for its own port) only when
    there is none, so a file left from an earlier ``fake_fcm_port`` must go first.
    """
    path, expected = _service_account(settings)
    try:
        token_uri = json.loads(path.read_text()).get("token_uri")
    except FileNotFoundError:
        return
    except (OSError, ValueError, AttributeError):
        return  # unreadable: the fake reports it in its log
    if token_uri != expected:
        path.unlink(missing_ok=True)


def _check_service_account(settings: Settings) -> None:
    path, expected = _service_account(settings)
    token_uri = json.loads(path.read_text())["token_uri"]
    if token_uri != expected:  # only a reused fake-fcm can hold a file for another port
        raise PushFakeError(
            f"{path} points at {token_uri}, not {expected}: the running fake-fcm uses it; "
            "run `stack down`, then `stack up` (a new fake-fcm writes a fresh file)"
        )


def stop_push_fakes(settings: Settings) -> dict[str, int | None]:
    home = _home(settings)
    return {name: _process.terminate(home / f"{name}.pid", 10.0) for name in _commands(settings)}


def push_fakes_status(settings: Settings) -> dict[str, int | None]:
    home = _home(settings)
    return {name: _process.live_pid(home / f"{name}.pid") for name in _commands(settings)}


def push_fakes_report(settings: Settings) -> dict[str, dict[str, Any]]:
    """:func:`engine.stack.stack_status` rows of the fakes that run, or of both when the
    gateway is ``local-fakes`` (then one that does not run is a problem)."""
    rows: dict[str, dict[str, Any]] = {}
    for name, pid in push_fakes_status(settings).items():
        if pid is None and settings.push_gateway != "local-fakes":
            continue
        port = _port(settings, name)
        error = "not running" if pid is None else None
        if error is None and not _process.port_open(port):
            error = f"not listening on {port}"
        rows[name] = {
            "address": f"127.0.0.1:{port}",
            "mode": "local",
            "pid": pid,
            "healthy": error is None,
            "error": error,
        }
    return rows
