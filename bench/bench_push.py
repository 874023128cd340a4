"""Worker push path throughput and event-loop fairness: ``python bench/bench_push.py``.

Measures what one worker does per page, end to end, in one process and one event
loop: :meth:`ProviderPushGateway.send` = vault lookup of the message, RFC 8291
encryption to the device's own key (one fresh ECDH per push, as real phones need),
the APNs envelope, and :class:`ApnsClient` over its one multiplexed HTTP/2 connection
(:class:`~engine.push.h2_transport.H2Transport`; worker defaults: retry policy,
deadline, circuit breaker). The fake APNs runs as a separate process (``python -m
engine.standins.fake_apns``, started by :func:`~engine.standins.fake_apns.spawn_fake_apns`) so
the worker has a core of its own, like ``bench/bench_apns.py``. (The bench's own
``httpx.AsyncClient`` only reads the fake's ``/_fake/received`` to verify a round.)

``--devices`` virtual iOS phones (:class:`VirtualDevice`, each with its own P-256
key and auth secret) take the pushes in turn, each push a distinct dispatch whose
message sits in the vault. ``--concurrency`` sends run at once (a pool of that many
sender tasks, i.e. a semaphore) until ``--pushes`` are done; ``--rounds`` rounds
after a warm-up. The vault is a ``MemoryVault`` unless ``REDIS_URL`` is set, then the
real encrypted ``MessageVault`` (and APNs token store) on that Redis.

While sends run, a probe standing for the worker's other agents sleeps 10 ms in a
loop and records how late each wake-up is (event-loop lag).

After every round the bench asks the fake for what it received (``GET
/_fake/received``) and checks that every push arrived, once, at the right device,
and that ``--verify-sample`` of them decrypt on their VirtualDevice to the message
in the vault; a broken path fails the bench instead of being measured.

Targets (from the issue): median rate >= 1,000 pushes/s and p99 loop lag < 50 ms.
Prints a result block and a PASS/FAIL line. Exit status: 0 on PASS, 1 when a target
is missed, 2 when verification fails (like ``bench_schedule.py``, non-zero means
"look at this"). Usage::

    .venv/bin/python bench/bench_push.py [--pushes 5000] [--concurrency 25] \\
        [--devices 200] [--rounds 3] [--verify-sample 100] [--profile]

(``REDIS_URL=redis://127.0.0.1:6379/15`` in front for the Redis vault; the bench deletes
the keys it wrote.) ``--profile`` runs one extra round under cProfile and prints where
the time goes. ``make bench`` runs this after ``bench_schedule.py`` and ``bench_apns.py``
and fails when any of them misses its target.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import random
import ssl
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from engine.fakes import MemoryDeviceDirectory, MemoryTokenStore, MemoryVault
from engine.ports import PushRequest
from engine.push.apns import ApnsClient
from engine.push.apns_token import ApnsTokenProvider, load_p8_key
from engine.push.envelope import parse_push
from engine.push.gateway import MessageSource, ProviderPushGateway
from engine.push.payload import PushContent, alert_text_for
from engine.schemas.intake import Urgency
from engine.standins.fake_apns import spawn_fake_apns
from engine.standins.virtual_device import VirtualDevice

TOPIC, KID, TEAM = "com.nightline.app", "BENCHKEY01", "BENCHTEAM1"
TARGET_RATE = 1000.0  # pushes/s, median over rounds
LAG_BUDGET_MS = 50.0  # p99 event-loop lag while pushing
PROBE_INTERVAL_S = 0.010
MESSAGES = (
    "Synthetic test message: fever 39.8 C since this evening, no rash, drinking fluids.",
    "Synthetic test message: 2 year old with a barking cough, worse at night, no stridor "
    "at rest; parent asks whether to go to the emergency department or wait for morning.",
    "Synthetic test message: refill request for an inhaler, pharmacy closes at 22:00, "
    "callback any time before then. Patient reports mild wheeze after exercise only.",
)


@dataclass
class Round:
    rate: float
    latencies: list[float]  # seconds per gateway.send
    lags: list[float]  # seconds late per probe wake-up
    outcomes: Counter[str]
    cpu_per_push: float  # seconds of this process's CPU per push
    problems: list[str] = field(default_factory=list)


def content_for(dispatch_id: str, n: int) -> PushContent:
    return PushContent(
        dispatch_id=dispatch_id,
        urgency=(Urgency.URGENT, Urgency.EMERGENCY, Urgency.ROUTINE)[n % 3],
        patient_name=f"Test Patient {n}",
        callback_number=f"+1 555 01{n % 100:02d}",
        message=MESSAGES[n % len(MESSAGES)],
        practice_name="Demo Pediatrics",
    )


async def lag_probe(lags: list[float], stop: asyncio.Event) -> None:
    """The other agents: wake every 10 ms; record how late each wake-up is."""
    while not stop.is_set():
        due = time.perf_counter() + PROBE_INTERVAL_S
        await asyncio.sleep(PROBE_INTERVAL_S)
        lags.append(max(0.0, time.perf_counter() - due))


async def one_round(
    gateway: ProviderPushGateway,
    vault: Any,
    phones: list[VirtualDevice],
    tag: str,
    pushes: int,
    concurrency: int,
    outcomes: Counter[str],
    profiler: cProfile.Profile | None = None,
) -> tuple[Round, dict[str, tuple[PushContent, VirtualDevice]]]:
    sent: dict[str, tuple[PushContent, VirtualDevice]] = {}
    requests = []
    for i in range(pushes):
        dispatch_id = f"d-bench-{tag}-{i}"
        content, phone = content_for(dispatch_id, i), phones[i % len(phones)]
        await vault.put(content)  # what intake does before any page goes out
        sent[dispatch_id] = (content, phone)
        urgency = str(content.urgency)
        requests.append(
            PushRequest(dispatch_id, phone.device, urgency, 0, 1, alert_text_for(urgency))
        )
    latencies: list[float] = []
    lags: list[float] = []
    outcomes.clear()
    pending = iter(requests)

    async def sender() -> None:  # `concurrency` of these = a semaphore of that size
        for request in pending:
            started = time.perf_counter()
            result = await gateway.send(request)
            latencies.append(time.perf_counter() - started)
            if not result.ok:
                outcomes["failed: " + result.detail] += 1

    stop = asyncio.Event()
    probe = asyncio.create_task(lag_probe(lags, stop))
    await asyncio.sleep(0)  # let the probe take its first timestamp
    if profiler is not None:
        profiler.enable()
    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler is not None:
        profiler.disable()
    stop.set()
    await probe
    return Round(pushes / elapsed, latencies, lags, Counter(outcomes), cpu / pushes), sent


async def verify(
    control: httpx.AsyncClient,
    url: str,
    sent: dict[str, tuple[PushContent, VirtualDevice]],
    sample: int,
) -> list[str]:
    """What the fake received matches what was sent; a sample decrypts on its phone."""
    response = await control.get(f"{url}/_fake/received")
    response.raise_for_status()
    received = response.json()["received"]
    await control.post(f"{url}/_fake/reset")  # the next round starts from nothing
    problems: list[str] = []
    if len(received) != len(sent):
        problems.append(f"fake received {len(received)} pushes, {len(sent)} were sent")
    seen: dict[str, dict[str, Any]] = {}
    for item in received:
        push = parse_push("ios", item["payload"])
        if push.dispatch_id in seen:
            problems.append(f"{push.dispatch_id} received twice")
        seen[push.dispatch_id] = item
        expected = sent.get(push.dispatch_id)
        if expected is None:
            problems.append(f"unexpected push for {push.dispatch_id}")
        elif item["token"] != expected[1].push_token:
            problems.append(f"{push.dispatch_id} went to the wrong device token")
        elif push.ciphertext_b64 is None or push.fetch:
            problems.append(f"{push.dispatch_id} carries no full ciphertext")
    missing = sent.keys() - seen.keys()
    if missing:
        problems.append(f"{len(missing)} pushes never reached the fake")
    for dispatch_id in random.sample(sorted(seen.keys() & sent.keys()), min(sample, len(seen))):
        content, phone = sent[dispatch_id]
        push = parse_push("ios", seen[dispatch_id]["payload"])
        try:
            opened = phone.open(push.ciphertext_b64 or "")
        except ValueError as exc:
            problems.append(f"{dispatch_id} does not decrypt on its phone: {exc}")
            continue
        if PushContent.model_validate(opened) != content:
            problems.append(f"{dispatch_id} decrypts to something else than the vault holds")
    return problems[:10]


async def forget(vault: Any, sent: dict[str, Any]) -> None:
    """Drop a round's messages so later rounds do not carry a growing heap (or Redis)."""
    if isinstance(vault, MemoryVault):
        vault.contents.clear()
    else:
        for dispatch_id in sent:
            await vault.forget(dispatch_id)


def print_profile(profiler: cProfile.Profile, top: int = 25) -> None:
    """Own (tottime) time by package, then the functions that spend the most themselves.

    Cumulative times are left out: with coroutines cProfile counts every resumption as
    a call, so they mislead.
    """
    stats = pstats.Stats(profiler)
    by_package: Counter[str] = Counter()
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _, name), (_, _, tottime, _, _) in raw.items():
        by_package[package_of(filename, name)] += tottime
    total = sum(by_package.values()) or 1.0
    print("own time by package (share of the profiled round):")
    for package, seconds in by_package.most_common(14):
        print(f"  {package:<34} {seconds:6.2f} s  {100 * seconds / total:4.1f} %")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print(out.getvalue())


def package_of(filename: str, name: str) -> str:
    if filename == "~":  # C code: "<method 'send' of '_socket.socket' objects>" and the like
        owner = name.split(" of '")[1] if " of '" in name else name.split()[-1]
        module = owner.strip("<>'").split(".")[0]
        return "C " + ("cryptography" if module in ("ec", "cryptography") else module)
    path = Path(filename)
    if "site-packages" in path.parts:
        return path.parts[path.parts.index("site-packages") + 1].removesuffix(".py")
    if "engine" in path.parts:
        return "engine/" + path.parts[path.parts.index("engine") + 1].removesuffix(".py")
    return "stdlib " + path.stem if "lib" in path.parts else path.name


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-push-"))
    key_file = work / "AuthKey.p8"
    proc, url, ca = await spawn_fake_apns(work / "certs", key_file, KID, TEAM, topic=TOPIC)
    redis: Any = None
    prefix = f"nightline-bench-{os.getpid()}"  # every Redis key the bench writes
    try:
        vault: Any
        store: Any
        redis_url = os.environ.get("REDIS_URL")
        if redis_url:
            from redis.asyncio import Redis

            from engine.push.message_vault import MessageVault

            redis = Redis.from_url(redis_url)
            vault = MessageVault(redis, prefix, MessageVault.generate_key(), ttl_s=600)
            store, vault_name = redis, f"MessageVault on {redis_url}"
        else:
            vault, store, vault_name = MemoryVault(), MemoryTokenStore(), "MemoryVault"
        source: MessageSource = vault

        phones = [
            VirtualDevice(f"c-bench-{n % 50}", f"ios-{n}", "ios") for n in range(args.devices)
        ]
        directory = MemoryDeviceDirectory()
        for phone in phones:
            await directory.register(phone.device)
        outcomes: Counter[str] = Counter()

        def observe(provider: str, outcome: str) -> None:
            outcomes[f"{provider}:{outcome}"] += 1

        key = load_p8_key(key_file)
        tokens = ApnsTokenProvider(key, KID, TEAM, store, key_prefix=f"{prefix}:apns:token")
        trust = ssl.create_default_context(cafile=ca)
        async with (
            ApnsClient(url, TOPIC, tokens, verify=ca) as apns,
            httpx.AsyncClient(http2=True, verify=trust, timeout=60) as control,
        ):
            gateway = ProviderPushGateway(source, directory, apns, None, observe=observe)
            _, sent = await one_round(
                gateway, vault, phones, "warm", 300, args.concurrency, outcomes
            )  # warm-up: TLS, HPACK, token
            problems = await verify(control, url, sent, args.verify_sample)
            await forget(vault, sent)
            rounds: list[Round] = []
            for n in range(args.rounds):
                r, sent = await one_round(
                    gateway, vault, phones, f"r{n}", args.pushes, args.concurrency, outcomes
                )
                r.problems = await verify(control, url, sent, args.verify_sample)
                r.problems += [f"{k}: {v}" for k, v in r.outcomes.items() if k != "apns:ok"]
                await forget(vault, sent)
                problems += r.problems
                rounds.append(r)
                print(
                    f"round {n + 1}: {r.rate:,.0f} pushes/s, send p50 {ms(pct(r.latencies, 0.5))}"
                    f" p99 {ms(pct(r.latencies, 0.99))}, lag p99 {ms(pct(r.lags, 0.99))} "
                    f"max {ms(max(r.lags, default=0))}, CPU {r.cpu_per_push * 1e6:.0f} us/push, "
                    f"{dict(r.outcomes)} {'verified' if not r.problems else 'BROKEN'}"
                )
            if args.profile:
                profiler = cProfile.Profile()
                r, sent = await one_round(
                    gateway,
                    vault,
                    phones,
                    "prof",
                    args.pushes,
                    args.concurrency,
                    outcomes,
                    profiler,
                )
                await verify(control, url, sent, 0)
                await forget(vault, sent)
                print(f"\nprofiled round (cProfile overhead included): {r.rate:,.0f} pushes/s")
                print_profile(profiler)
    finally:
        proc.terminate()
        await proc.wait()
        if redis is not None:
            async for name in redis.scan_iter(f"{prefix}:*"):
                await redis.delete(name)
            await redis.aclose()

    rate = statistics.median(r.rate for r in rounds)
    latencies = [x for r in rounds for x in r.latencies]
    lags = [x for r in rounds for x in r.lags]
    lag_p99 = pct(lags, 0.99)
    cpu = statistics.median(r.cpu_per_push for r in rounds)
    print(
        f"\nbench_push: ProviderPushGateway.send -> fake APNs (separate process), "
        f"{vault_name}\n"
        f"  {args.rounds} rounds x {args.pushes} pushes, concurrency {args.concurrency}, "
        f"{args.devices} virtual iOS devices (own keys, one ECDH per push), {os.cpu_count()} CPUs\n"
        f"  rate        median {rate:,.0f} pushes/s  (rounds: "
        f"{', '.join(f'{r.rate:,.0f}' for r in rounds)})\n"
        f"  send        p50 {ms(pct(latencies, 0.5))}  p99 {ms(pct(latencies, 0.99))}  "
        f"max {ms(max(latencies, default=0))}\n"
        f"  loop lag    p50 {ms(pct(lags, 0.5))}  p99 {ms(lag_p99)}  "
        f"max {ms(max(lags, default=0))}  ({len(lags)} wake-ups of a 10 ms sleeper)\n"
        f"  worker CPU  {cpu * 1e6:.0f} us/push (this process; the fake has its own)\n"
        f"  verified    {'all pushes received once; ' if not problems else 'NO: '}"
        f"{args.verify_sample} per round decrypted on their phones"
    )
    for problem in problems:
        print(f"  problem: {problem}")
    if problems:
        print("FAIL: the push path is broken; the numbers above mean nothing")
        return 2
    rate_ok, lag_ok = rate >= TARGET_RATE, lag_p99 * 1000 < LAG_BUDGET_MS
    verdict = "PASS" if rate_ok and lag_ok else "FAIL"
    print(
        f"{verdict}: {rate:,.0f} pushes/s {'>=' if rate_ok else '<'} {TARGET_RATE:,.0f} target; "
        f"p99 loop lag {ms(lag_p99)} {'<' if lag_ok else '>='} {LAG_BUDGET_MS:.0f} ms budget"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=5000, help="pushes per round")
    parser.add_argument("--concurrency", type=int, default=25, help="sends in flight at once")
    parser.add_argument("--devices", type=int, default=200, help="virtual iOS phones")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--verify-sample",
        type=int,
        default=100,
        help="received pushes per round decrypted on their phone",
    )
    parser.add_argument("--profile", action="store_true", help="one more round under cProfile")
    sys.exit(asyncio.run(main(parser.parse_args())))
