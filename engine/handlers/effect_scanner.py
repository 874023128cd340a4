"""The effect scanner: runs again every effect its committer did not finish (a crash, a
publish that failed, a push that raised), until it is done.

Every worker scans. A dispatch with effects not done sits in the effects index at the
time they should be retried (the committer's claim end); ``due_effects`` moves it on by
a backoff that grows with how long its oldest effect has waited, so a long outage is
retried every minute rather than hammered. Claims are per effect (atomic in Redis), so
two workers never run the same effect at once, and a page pushes only the devices no
earlier run reached. An effect overdue by more than a minute is *stuck*: the
``nightline_stuck_effects`` gauge counts its dispatch, and a warning names it (ids only).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from engine.handlers.dispatching import run_stored_effects
from engine.handlers.outbox import FIRST_RETRY_S as _FIRST_RETRY_S
from engine.handlers.outbox import pending, retry_delay_s
from engine.handlers.services import Services

__all__ = ["STUCK_AFTER_S", "retry_delay_s", "scan_due_effects"]

log = logging.getLogger(__name__)

STUCK_AFTER_S = 60.0
_AT_ONCE = 32


async def scan_due_effects(svc: Services, limit: int = 200) -> int:
    """Run the due dispatches' effects (up to ``limit``); returns how many were due."""
    now = svc.clock.now()
    due = await svc.dispatches.due_effects(now, now + timedelta(seconds=_FIRST_RETRY_S), limit)
    stuck = 0
    gate = asyncio.Semaphore(_AT_ONCE)

    async def one(dispatch_id: str) -> None:
        nonlocal stuck
        async with gate:
            oldest = await _retry(svc, dispatch_id, now)
        if oldest is not None and (now - oldest).total_seconds() > STUCK_AFTER_S:
            stuck += 1
            log.warning("dispatch %s: effects not done since %s", dispatch_id, oldest.isoformat())

    await asyncio.gather(*(one(d) for d in due))
    svc.metrics.pending_effects.set(await svc.dispatches.pending_effects())
    svc.metrics.stuck_effects.set(stuck)
    return len(due)


async def _retry(svc: Services, dispatch_id: str, now: datetime) -> datetime | None:
    """Run one dispatch's effects not done; when its oldest one was decided (or None)."""
    stored = await svc.dispatches.load(dispatch_id)
    if stored is None or not stored.outbox:
        await svc.dispatches.complete_effects(dispatch_id, [])  # out of the index
        return None
    oldest = min(e.at for e in pending(stored.outbox, stored.version, now))
    waited = max(0.0, (now - oldest).total_seconds())
    later = now + timedelta(seconds=retry_delay_s(waited))
    if waited > _FIRST_RETRY_S * 4:  # the longer back-off of an effect waiting long
        await svc.dispatches.postpone_effects(dispatch_id, later)
    if await run_stored_effects(svc, dispatch_id, stored):
        svc.metrics.effect_retries.inc()
    return oldest
