"""Scenario "timers": many pending ack timers, spread out, and a burst due at once.

Timers enter the index only with a dispatch's commit, so they are made by real calls.
A timer's deadline is the commit time plus the first level's ack timeout, so:

* *spread*: ``count`` calls go to ``spread_practices`` practices whose first-level
  timeouts step evenly from ``lead_s`` to ``lead_s + window_s`` (an hour by default),
  so the index holds about ``count`` pending timers whose deadlines are spread over
  the window. Once every call is paged, the bench watches ``observe_s`` with nothing
  else going on (about ``count / window_s`` timers a second come due);
* *burst*: then ``burst`` calls are sent over ``burst / create_rate`` seconds, in slots
  of ``slot_s`` with one practice per slot whose timeout is ``slot_s`` shorter than the
  previous slot's, so every deadline lands on the same instant (give or take the slot
  and the commit latency; the report shows the actual spread of the deadlines).

When a timer fires, the dispatch pages its second level (a day's timeout: nothing fires
twice). A watcher reads each timer's due time from the index (``timers:due``) before it
fires; the firing's page at the fake gives the lateness from outside (due -> the next
page received), for three groups: ``spread`` (due in the quiet window), ``burst``, and
``spread_under_load`` (spread timers due while calls were being made). The workers'
``nightline_timer_lateness_seconds{kind="ack"}`` histogram (bucket upper bounds) and
``nightline_timer_firings_total`` (firings per timer that came due; target <= 1.05)
are reported beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from .clinics import LONGEST_TIMEOUT_S, clinics
from .deployment import Deployment
from .load import Producer
from .metrics import bucket_delta
from .run import Inbox, Run, usage_now, usage_report
from .stats import Push, histogram_quantile, pair_firings, summary

__all__ = ["TimerOptions", "TimerWatcher", "run_timers"]

_LATENESS = "nightline_timer_lateness_seconds"
_FIRINGS = "nightline_timer_firings_total"


@dataclass(frozen=True)
class TimerOptions:
    count: int
    window_s: float
    burst: int
    create_rate: float
    observe_s: float
    drain_s: float
    spread_practices: int = 100
    lead_s: float = 5.0
    slot_s: float = 0.2
    burst_lead_s: float = 10.0


class TimerWatcher:
    """Records the due time of every ack timer before it comes due: polls the index for
    members due within ``lookahead_s`` and reads their original due times."""

    def __init__(self, deployment: Deployment, lookahead_s: float = 10.0, every_s: float = 0.5):
        self._redis, self._keys = deployment.redis, deployment.keys
        self._lookahead_s, self._every_s = lookahead_s, every_s
        self.due_at: dict[str, float] = {}

    async def watch(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self._every_s)

    async def poll(self) -> None:
        horizon = (time.time() + self._lookahead_s) * 1000
        members = await self._redis.zrangebyscore(self._keys.timers, "-inf", horizon)
        new = [m.decode() for m in members if m.decode() not in self.due_at]
        new = [m for m in new if m.startswith("ack|")]
        if new:
            dues = await self._redis.hmget(self._keys.timer_due, new)
            for member, due in zip(new, dues, strict=True):
                if due is not None:
                    self.due_at[member] = int(due) / 1000


def _group(timers: dict[str, float], pushes: list[Push]) -> dict[str, Any]:
    """Lateness (due -> next page at the fake) of one group of timers."""
    fired = pair_firings(timers, pushes)
    done = [timers[m] + late for m, late in fired.lateness.items()]
    span = max(done, default=0.0) - min(timers.values(), default=0.0)
    return {
        "timers": len(timers),
        "due_spread_s": max(timers.values()) - min(timers.values()) if timers else None,
        "lateness_s": summary(list(fired.lateness.values())),
        "fired_per_s": len(done) / span if span > 0 else None,
        "unfired": len(fired.unfired),
        "max_pushes_per_timer": max(fired.pushes.values(), default=0),
    }


def _groups(
    due: dict[str, float], burst: Collection[str], quiet: tuple[float, float]
) -> dict[str, dict[str, float]]:
    """The burst's timers; the spread timers due in the ``quiet`` window (nothing else
    going on); and the spread timers due while calls were being made (under load)."""
    groups: dict[str, dict[str, float]] = {"spread": {}, "burst": {}, "spread_under_load": {}}
    for member, at in due.items():
        if member.split("|")[1] in burst:
            groups["burst"][member] = at
        elif quiet[0] <= at < quiet[1]:
            groups["spread"][member] = at
        else:
            groups["spread_under_load"][member] = at
    return groups


async def run_timers(run: Run, deployment: Deployment, opts: TimerOptions) -> dict[str, Any]:
    spread_n = max(1, min(opts.spread_practices, opts.count))
    step_s = opts.window_s / spread_n
    spread = clinics("bench-t", [(opts.lead_s + j * step_s, LONGEST_TIMEOUT_S)
                                 for j in range(spread_n)])  # fmt: skip
    burst_s = opts.burst / opts.create_rate
    slots = max(1, math.ceil(burst_s / opts.slot_s))
    due_after = burst_s + opts.burst_lead_s
    burst = clinics("bench-b", [(due_after - k * opts.slot_s, LONGEST_TIMEOUT_S)
                                for k in range(slots)])  # fmt: skip
    await deployment.add_clinics(spread + burst)
    spread_ids, burst_ids = [c.practice_id for c in spread], [c.practice_id for c in burst]

    def slot(n: int) -> tuple[str, str]:
        return "urgent", burst_ids[min(slots - 1, int(n / opts.create_rate / opts.slot_s))]

    await run.fakes.reset()
    watcher = TimerWatcher(deployment)
    watching = asyncio.create_task(watcher.watch())
    scrape_before, before = await deployment.scrape(), usage_now(run, deployment)
    intake = deployment.topic("intake")
    try:
        async with (
            Inbox(run.fakes).polling() as inbox,
            Producer(deployment.settings.kafka_servers) as producer,
        ):
            made = await producer.calls(intake, opts.count, opts.create_rate,
                                        lambda n: ("urgent", spread_ids[n % spread_n]))  # fmt: skip
            created = await inbox.wait_for(made.sent_at, opts.drain_s)
            quiet_from = time.time()
            pending = await deployment.pending_timers()
            await inbox.until(quiet_from + opts.observe_s)  # the spread timers alone
            burst_sent = await producer.calls(intake, opts.burst, opts.create_rate, slot)
            observe_end = burst_sent.first + due_after + 5.0
            await inbox.until(observe_end)
        await watcher.poll()
        scrape_after, after = await deployment.scrape(), usage_now(run, deployment)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    due = {m: t for m, t in watcher.due_at.items() if t <= observe_end - 2.0}
    lateness_buckets = bucket_delta(
        scrape_before.buckets(_LATENESS, kind="ack"), scrape_after.buckets(_LATENESS, kind="ack")
    )
    firings = scrape_after.total(_FIRINGS) - scrape_before.total(_FIRINGS)
    due_by_scrape = sum(1 for t in watcher.due_at.values() if t <= observe_end)
    report: dict[str, Any] = {
        "created": len(made.sent_at),
        "created_all_paged": created,
        "pending_timers": pending,
        "quiet_s": burst_sent.first - quiet_from,
        "timers_due": len(due),
        "firings_total": firings,
        "firings_per_timer": firings / due_by_scrape if due_by_scrape else None,
        "worker_lateness_s": {
            f"p{q}": histogram_quantile(lateness_buckets, q) for q in (50, 99, 100)
        },
        "processes": usage_report(before, after, len(made.sent_at) + len(burst_sent.sent_at)),
    }
    groups = _groups(due, burst_sent.sent_at, (quiet_from, burst_sent.first))
    report.update({name: _group(timers, inbox.pushes) for name, timers in groups.items()})
    return report
