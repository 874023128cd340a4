"""Scenario "steps": urgent calls at stepped rates, each step measured from outside.

Each step produces ``rate * step_s`` urgent calls, evenly paced, for practices whose
ack timeouts are a day (nothing escalates meanwhile), then waits up to ``drain_s`` for
every call's first page at the fakes. It reports the offered and achieved rates (calls
pushed / time from the step's first send to its last first push), call -> push latency
(the fake's receive time minus the send time), pushes missing and repeated, consumer
lag of ``intake`` when the step's last call was sent and after the drain, and CPU per
1,000 dispatches for every process. Stepping stops after a step that fails badly
(:func:`~.stats.step_failure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .clinics import LONGEST_TIMEOUT_S, clinics
from .deployment import Deployment
from .load import Producer
from .run import Inbox, Run, decrypt_check, phones_of, usage_now, usage_report
from .stats import pair_pushes, step_failure, summary

__all__ = ["StepsOptions", "run_steps"]


@dataclass(frozen=True)
class StepsOptions:
    rates: tuple[float, ...]
    step_s: float
    drain_s: float
    practices: int
    min_ratio: float
    max_p99_s: float


async def run_steps(run: Run, deployment: Deployment, opts: StepsOptions) -> dict[str, Any]:
    practices = clinics("bench-s", [(LONGEST_TIMEOUT_S, LONGEST_TIMEOUT_S)] * opts.practices)
    await deployment.add_clinics(practices)
    ids = [c.practice_id for c in practices]
    phones = phones_of(practices)
    steps: list[dict[str, Any]] = []
    async with Producer(deployment.settings.kafka_servers) as producer:
        for rate in opts.rates:
            await run.fakes.reset()
            before = usage_now(run, deployment)
            count = max(1, round(rate * opts.step_s))
            async with Inbox(run.fakes).polling() as inbox:
                sent = await producer.calls(deployment.topic("intake"), count, rate,
                                            lambda n: ("urgent", ids[n % len(ids)]))  # fmt: skip
                lag_at_end = await deployment.lag("intake")
                await inbox.wait_for(sent.sent_at, opts.drain_s)
            after = usage_now(run, deployment)
            pairing = pair_pushes(sent.sent_at, inbox.pushes)
            span = max(pairing.first_push_at.values(), default=sent.first) - sent.first
            achieved = pairing.pushed / span if span > 0 else 0.0
            latency = summary(pairing.latencies)
            p99 = latency["p99"]
            failure = step_failure(
                sent.rate(), achieved, float(p99) if p99 is not None else None,
                len(pairing.missing), count, min_ratio=opts.min_ratio, max_p99_s=opts.max_p99_s,
            )  # fmt: skip
            steps.append(
                {
                    "rate": rate,
                    "calls": count,
                    "offered_per_s": sent.rate(),
                    "achieved_per_s": achieved,
                    "pushed": pairing.pushed,
                    "missing": len(pairing.missing),
                    "duplicates": pairing.duplicates,
                    "stray": pairing.stray,
                    "latency_s": latency,
                    "intake_lag_at_end": lag_at_end,
                    "intake_lag_after_drain": await deployment.lag("intake"),
                    "processes": usage_report(before, after, pairing.pushed),
                    "sample": decrypt_check(run.fakes, phones),
                    "failure": failure,
                }
            )
            if failure:
                break
    passed = [s["achieved_per_s"] for s in steps if not s["failure"]]
    return {
        "workers": deployment.worker_count,
        "steps": steps,
        "best_sustained_per_s": max(passed, default=None),
    }
