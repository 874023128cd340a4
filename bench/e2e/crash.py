"""Scenario "crash": urgent calls at a steady rate while the first worker is SIGKILLed
half-way through and started again at once (as a supervisor would).

Every call must still be pushed, and no device may get the same page twice: a decision
is committed before its offset, its effects stay in the outbox until each is done, and
each push is recorded as soon as it went out, so the restarted worker (or another one)
pushes only what had not gone out. The drain allows for the dead worker's claims to
lapse (``NIGHTLINE_EFFECT_LEASE_S``, 30 s) before its unfinished effects are retried.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from .clinics import LONGEST_TIMEOUT_S, clinics
from .deployment import Deployment
from .load import Producer
from .run import Inbox, Run
from .stats import pair_pushes, summary

__all__ = ["CrashOptions", "run_crash"]

CLAIM_LAPSE_S = 35.0  # the effect lease (30 s) and a scan


@dataclass(frozen=True)
class CrashOptions:
    rate: float
    seconds: float
    drain_s: float
    practices: int


async def run_crash(run: Run, deployment: Deployment, opts: CrashOptions) -> dict[str, Any]:
    practices = clinics("bench-c", [(LONGEST_TIMEOUT_S, LONGEST_TIMEOUT_S)] * opts.practices)
    await deployment.add_clinics(practices)
    ids = [c.practice_id for c in practices]
    count = max(1, round(opts.rate * opts.seconds))
    await run.fakes.reset()

    def practice_of(n: int) -> tuple[str, str]:
        return ("urgent", ids[n % len(ids)])

    async with (
        Producer(deployment.settings.kafka_servers) as producer,
        Inbox(run.fakes).polling() as inbox,
    ):
        began = time.monotonic()
        topic = deployment.topic("intake")
        sending = asyncio.ensure_future(producer.calls(topic, count, opts.rate, practice_of))
        await asyncio.sleep(opts.seconds / 2)
        killed_at = time.monotonic() - began
        restart_s = await deployment.kill_and_restart(0)
        sent = await sending
        await inbox.wait_for(sent.sent_at, opts.drain_s + CLAIM_LAPSE_S)
    pairing = pair_pushes(sent.sent_at, inbox.pushes)
    return {
        "workers": len(deployment.processes),
        "rate": opts.rate,
        "calls": count,
        "killed_at_s": killed_at,
        "restart_ready_s": restart_s,
        "pushed": pairing.pushed,
        "missing": len(pairing.missing),
        "duplicates": pairing.duplicates,
        "stray": pairing.stray,
        "latency_s": summary(pairing.latencies),
    }
