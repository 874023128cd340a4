"""The fake APNs and FCM as the local stack runs them (``NIGHTLINE_PUSH_GATEWAY=
local-fakes``, :mod:`engine.stack.push_fakes`), on free ports and in the bench's own
state dir, and what they received, read incrementally (``GET /_fake/received?since=N``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from engine.push.envelope import parse_push
from engine.settings import Settings
from engine.stack.push_fakes import (
    provider_settings,
    push_fakes_status,
    start_push_fakes,
    stop_push_fakes,
)

from .stats import Push

__all__ = ["Body", "PushFakes", "free_port"]

_PLATFORM = {"fake-apns": "ios", "fake-fcm": "android"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Body:
    """A received push's payload, kept for a sample only (to decrypt on its phone)."""

    platform: str
    token: str
    payload: dict[str, Any]


@dataclass
class PushFakes:
    """Both fakes, running as processes; ``take()`` returns the pushes not taken yet."""

    settings: Settings
    keep_bodies: int = 20
    bodies: list[Body] = field(default_factory=list)
    _next: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_PLATFORM, 0))
    _http: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    @classmethod
    async def start(cls, base: Settings, home: Path) -> PushFakes:
        settings = base.model_copy(
            update={
                "state_dir": home,
                "push_gateway": "local-fakes",
                "fake_apns_port": free_port(),
                "fake_fcm_port": free_port(),
            }
        )
        await asyncio.to_thread(start_push_fakes, settings)
        fakes = cls(settings)
        ca = provider_settings(settings).apns_ca_file
        verify = ssl.create_default_context(cafile=str(ca))
        fakes._http = {
            "fake-apns": httpx.AsyncClient(http2=True, verify=verify, timeout=60),
            "fake-fcm": httpx.AsyncClient(timeout=60),
        }
        return fakes

    def worker_env(self) -> dict[str, str]:
        """What points a worker at these fakes (the providers gateway, their keys)."""
        p = provider_settings(self.settings)
        return {
            "NIGHTLINE_PUSH_GATEWAY": "providers",
            "NIGHTLINE_APNS_URL": p.apns_url,
            "NIGHTLINE_APNS_TOPIC": p.apns_topic,
            "NIGHTLINE_APNS_KEY_FILE": str(p.apns_key_file),
            "NIGHTLINE_APNS_KEY_ID": p.apns_key_id,
            "NIGHTLINE_APNS_TEAM_ID": p.apns_team_id,
            "NIGHTLINE_APNS_CA_FILE": str(p.apns_ca_file),
            "NIGHTLINE_FCM_URL": p.fcm_url,
            "NIGHTLINE_FCM_SERVICE_ACCOUNT_FILE": str(p.fcm_service_account_file),
        }

    def pids(self) -> dict[str, int]:
        return {name: pid for name, pid in push_fakes_status(self.settings).items() if pid}

    def _url(self, name: str) -> str:
        p = provider_settings(self.settings)
        return p.apns_url if name == "fake-apns" else p.fcm_url

    async def take(self) -> list[Push]:
        """Every push the fakes accepted since the last ``take`` (or ``reset``)."""
        pushes: list[Push] = []
        for name, platform in _PLATFORM.items():
            url = f"{self._url(name)}/_fake/received"
            response = await self._http[name].get(url, params={"since": self._next[name]})
            response.raise_for_status()
            answer = response.json()
            self._next[name] = int(answer["next"])
            for record in answer["received"]:
                push = parse_push(platform, record["payload"])
                token = str(record["token"])
                pushes.append(Push(push.dispatch_id, push.page, token, record["received_at"]))
                if len(self.bodies) < self.keep_bodies:
                    self.bodies.append(Body(platform, token, record["payload"]))
        return pushes

    async def reset(self) -> None:
        """Forget what the fakes received (between scenarios, when no push is in flight)."""
        for name in _PLATFORM:
            response = await self._http[name].post(f"{self._url(name)}/_fake/reset")
            response.raise_for_status()
            self._next[name] = 0
        self.bodies.clear()

    async def stop(self) -> None:
        for client in self._http.values():
            await client.aclose()
        await asyncio.to_thread(stop_push_fakes, self.settings)
