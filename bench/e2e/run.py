"""What every scenario shares: the run's fakes and services, the pushes received so far,
waiting for pushes, checking that sampled pushes decrypt on their phones, and the CPU
and memory of every process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.settings import Settings
from engine.standins.phone import open_push
from engine.standins.virtual_device import VirtualDevice

from .clinics import Clinic
from .deployment import Deployment
from .fakes import PushFakes
from .procstat import Usage, cpu_per_thousand, usage_of
from .stats import Push

__all__ = ["Inbox", "Run", "decrypt_check", "phones_of", "usage_now", "usage_report"]


@dataclass
class Run:
    """The bench's shared pieces: settings, fakes, the broker's and Redis's pids (when
    they run on this machine), where files go, and whether to keep what it made."""

    base: Settings
    fakes: PushFakes
    home: Path
    services: dict[str, int]
    keep: bool

    def pids(self, deployment: Deployment | None = None) -> dict[str, int]:
        """Every process whose CPU and memory the bench reports."""
        workers = deployment.pids() if deployment is not None else {}
        return {**workers, **self.services, **self.fakes.pids(), "bench": os.getpid()}


@dataclass
class Inbox:
    """Pushes taken from the fakes, and per page number the dispatches that got one."""

    fakes: PushFakes
    pushes: list[Push] = field(default_factory=list)
    _pages: dict[int | None, set[str]] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def take(self) -> list[Push]:
        async with self._lock:
            new = await self.fakes.take()
        self.pushes.extend(new)
        for push in new:
            self._pages.setdefault(push.page, set()).add(push.dispatch_id)
        return new

    @contextlib.asynccontextmanager
    async def polling(self, every_s: float = 0.5) -> AsyncIterator[Inbox]:
        """Take pushes in the background meanwhile, so that no answer of the fakes grows
        large (they keep every push until the next reset)."""

        stop = asyncio.Event()

        async def poll() -> None:  # stopped between takes: a take cut short loses pushes
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), every_s)
                await self.take()

        task = asyncio.create_task(poll())
        try:
            yield self
        finally:
            stop.set()
            await task

    def paged(self, page: int = 1) -> set[str]:
        return self._pages.get(page, set())

    async def wait_for(
        self, dispatch_ids: Collection[str], timeout_s: float, page: int = 1, every_s: float = 0.25
    ) -> bool:
        """Take pushes until each of ``dispatch_ids`` got page ``page`` (True) or
        ``timeout_s`` passed (False)."""
        deadline = time.monotonic() + timeout_s
        while True:
            await self.take()
            if not set(dispatch_ids) - self.paged(page):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(every_s)

    async def until(self, moment: float, every_s: float = 0.5) -> None:
        """Take pushes until the wall clock reaches ``moment`` (epoch seconds)."""
        while time.time() < moment:
            await asyncio.sleep(min(every_s, max(0.0, moment - time.time())))
            await self.take()


def phones_of(clinics: list[Clinic]) -> dict[str, VirtualDevice]:
    """Push token -> phone."""
    return {phone.push_token: phone for c in clinics for phone in c.phones}


def decrypt_check(fakes: PushFakes, phones: Mapping[str, VirtualDevice]) -> dict[str, int]:
    """Open the fakes' sampled push bodies on their phones: how many decrypted to a
    message for the dispatch the envelope names, and how many did not."""
    ok = failed = 0
    for body in fakes.bodies:
        phone = phones.get(body.token)
        if phone is None:
            continue
        opened = open_push(phone, body.payload)
        good = opened.content is not None and opened.content["dispatch_id"] == opened.dispatch_id
        ok, failed = ok + good, failed + (not good)
    return {"decrypted": ok, "not_decrypted": failed}


def usage_report(
    before: Mapping[str, Usage], after: Mapping[str, Usage], dispatches: int
) -> dict[str, dict[str, Any]]:
    """Per process: CPU seconds per 1,000 dispatches and peak RSS (MiB)."""
    per_thousand = cpu_per_thousand(before, after, dispatches)
    report: dict[str, dict[str, Any]] = {}
    for name, usage in after.items():
        rss = usage.peak_rss
        report[name] = {
            "cpu_s_per_1000": per_thousand.get(name),
            "peak_rss_mib": rss / 2**20 if rss is not None else None,
        }
    return report


def usage_now(run: Run, deployment: Deployment | None = None) -> dict[str, Usage]:
    return usage_of(run.pids(deployment))
