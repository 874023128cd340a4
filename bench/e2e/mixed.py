"""Scenario "mixed": routine and urgent calls, and phones that behave like people.

Calls (a ``routine_share`` of them routine) go to practices whose two levels wait
``ack_timeout_s`` each. Every push a phone gets is answered as the app would, on the
``acks`` topic (:mod:`engine.schemas.acks`): the phone confirms receipt and accepts
after a random delay, or confirms and declines after one, or never answers (then the
dispatch re-pages the next level when the timeout passes, and finally alerts the desk).
The bench reports call -> first push latency of urgent calls, what the phones did,
decline -> next page latency, pushes per urgent call, and where each urgent dispatch
stands at the end (accepted, still paging, at the desk), read from Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.adapters.redis_dispatches import RedisDispatchStore
from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.codec import encode
from engine.standins.virtual_device import VirtualDevice

from .clinics import clinics
from .deployment import Deployment
from .load import Producer
from .run import Inbox, Run, phones_of, usage_now, usage_report
from .stats import Push, next_page_after, pair_pushes, summary

__all__ = ["MixedOptions", "run_mixed"]

_BEHAVIOURS = ("accept", "decline", "ignore")


@dataclass(frozen=True)
class MixedOptions:
    rate: float
    duration_s: float
    routine_share: float
    ack_timeout_s: float
    shares: tuple[float, float, float] = (0.6, 0.2, 0.2)  # accept, decline, ignore
    answer_delay_s: tuple[float, float] = (0.2, 3.0)
    practices: int = 8
    seed: int = 7


class Phones:
    """The virtual phones' owners: each new push is answered by a behaviour drawn at
    random (seeded), receipts at once, the decision after a random delay."""

    def __init__(
        self, phones: dict[str, VirtualDevice], producer: Producer, topic: str, opts: MixedOptions
    ) -> None:
        self._phones, self._producer, self._topic, self._opts = phones, producer, topic, opts
        self._rng = random.Random(opts.seed)
        self.behaviour: Counter[str] = Counter()
        self.declined_at: dict[tuple[str, int], float] = {}  # (dispatch, page) -> sent
        self._answered: set[tuple[str, int | None, str]] = set()
        self._later: set[asyncio.Task[None]] = set()

    async def answer(self, pushes: list[Push]) -> None:
        for push in pushes:
            phone = self._phones.get(push.token)
            seen = (push.dispatch_id, push.page, push.token)
            if phone is None or push.page is None or seen in self._answered:
                continue
            self._answered.add(seen)
            what = self._rng.choices(_BEHAVIOURS, weights=self._opts.shares)[0]
            self.behaviour[what] += 1
            if what == "ignore":
                continue
            await self._send(phone, push, AckKind.RECEIVED)
            kind = AckKind.ACCEPTED if what == "accept" else AckKind.DECLINED
            delay = self._rng.uniform(*self._opts.answer_delay_s)
            task = asyncio.create_task(self._decide(phone, push, kind, delay))
            self._later.add(task)
            task.add_done_callback(self._later.discard)

    async def _decide(self, phone: VirtualDevice, push: Push, kind: AckKind, delay: float) -> None:
        await asyncio.sleep(delay)
        if kind is AckKind.DECLINED and push.page is not None:
            self.declined_at[(push.dispatch_id, push.page)] = time.time()
        await self._send(phone, push, kind)

    async def _send(self, phone: VirtualDevice, push: Push, kind: AckKind) -> None:
        ack = Acknowledgement(
            dispatch_id=push.dispatch_id, clinician_id=phone.clinician_id,
            device_id=phone.device_id, page=push.page, kind=kind, at=datetime.now(UTC),
        )  # fmt: skip
        await self._producer.send(self._topic, push.dispatch_id, encode(ack))

    async def settle(self) -> None:
        """Wait for the decisions still to be sent."""
        while self._later:
            await asyncio.wait(set(self._later))


async def _answer_until(stop: asyncio.Event, inbox: Inbox, phones: Phones) -> None:
    """Answer new pushes every 0.2 s until ``stop`` (checked between takes: a take cut
    short would lose pushes)."""
    while not stop.is_set():
        await phones.answer(await inbox.take())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


async def run_mixed(run: Run, deployment: Deployment, opts: MixedOptions) -> dict[str, Any]:
    timeouts = [(opts.ack_timeout_s, opts.ack_timeout_s)] * opts.practices
    practices = clinics("bench-m", timeouts)
    await deployment.add_clinics(practices)
    ids = [c.practice_id for c in practices]
    rng = random.Random(opts.seed)
    await run.fakes.reset()
    inbox = Inbox(run.fakes)
    before = usage_now(run, deployment)
    count = max(1, round(opts.rate * opts.duration_s))
    kinds = ["routine" if rng.random() < opts.routine_share else "urgent" for _ in range(count)]
    async with Producer(deployment.settings.kafka_servers) as producer:
        phones = Phones(phones_of(practices), producer, deployment.topic("acks"), opts)
        stop = asyncio.Event()
        answering = asyncio.create_task(_answer_until(stop, inbox, phones))
        try:
            sent = await producer.calls(deployment.topic("intake"), count, opts.rate,
                                        lambda n: (kinds[n], ids[n % len(ids)]))  # fmt: skip
            # never-answered pages: the second level after one timeout, the desk after two
            await asyncio.sleep(2 * opts.ack_timeout_s + opts.answer_delay_s[1] + 2.0)
            await phones.settle()
            await asyncio.sleep(1.0)
        finally:
            stop.set()
            await answering
    await inbox.take()
    after = usage_now(run, deployment)
    urgent, routine = sent.of_kind("urgent"), sent.of_kind("routine")
    pairing = pair_pushes(urgent, inbox.pushes)
    store = RedisDispatchStore(deployment.redis, deployment.keys)
    statuses: Counter[str] = Counter()
    for dispatch_id in urgent:
        stored = await store.load(dispatch_id)
        statuses[stored.state["status"] if stored else "missing"] += 1
    per_call = Counter(p.dispatch_id for p in inbox.pushes if p.dispatch_id in urgent)
    return {
        "urgent": len(urgent),
        "routine": len(routine),
        "offered_per_s": sent.rate(),
        "latency_s": summary(pairing.latencies),
        "missing": len(pairing.missing),
        "duplicates": pairing.duplicates,
        "routine_pushed": sum(1 for p in inbox.pushes if p.dispatch_id in routine),
        "phones": dict(phones.behaviour),
        "decline_to_next_page_s": summary(next_page_after(phones.declined_at, inbox.pushes)),
        "pushes_per_urgent_call": sum(per_call.values()) / len(urgent) if urgent else None,
        "statuses": dict(statuses),
        "processes": usage_report(before, after, len(urgent)),
    }
