"""APNs client throughput: pushes per second from one ApnsClient to the fake APNs.

The fake runs as a separate process (``python -m engine.standins.fake_apns``, started by
:func:`~engine.standins.fake_apns.spawn_fake_apns`) so the client has a core of its own;
the client sends over its one multiplexed HTTP/2 connection
(:class:`~engine.push.h2_transport.H2Transport`). Usage::

    .venv/bin/python bench/bench_apns.py [--pushes 5000] [--concurrency 25] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from engine.fakes import MemoryTokenStore
from engine.push.apns import ApnsClient
from engine.push.apns_token import ApnsTokenProvider, load_p8_key
from engine.push.retry import RetryPolicy
from engine.standins.fake_apns import spawn_fake_apns

TOPIC, KID, TEAM = "com.nightline.app", "BENCHKEY01", "BENCHTEAM1"


async def one_round(client: ApnsClient, pushes: int, concurrency: int) -> tuple[float, int]:
    gate = asyncio.Semaphore(concurrency)
    token = "b7" * 32

    async def push(i: int) -> bool:
        async with gate:
            r = await client.send(
                token, {"d": f"disp-{i}"}, urgency="urgent", collapse_id=f"disp-{i}",
                expiration_s=60,
            )  # fmt: skip
            return r.ok

    started = time.perf_counter()
    results = await asyncio.gather(*(push(i) for i in range(pushes)))
    return pushes / (time.perf_counter() - started), pushes - sum(results)


async def main(pushes: int, concurrency: int, rounds: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-apns-"))
    key_file = work / "AuthKey.p8"
    proc, url, ca = await spawn_fake_apns(work / "certs", key_file, KID, TEAM)
    try:
        tokens = ApnsTokenProvider(load_p8_key(key_file), KID, TEAM, MemoryTokenStore())
        retry = RetryPolicy(max_attempts=1)
        async with ApnsClient(url, TOPIC, tokens, verify=ca, retry=retry) as client:
            await one_round(client, 200, concurrency)  # warm up: TLS, HPACK, token
            rates = []
            for n in range(rounds):
                rate, failed = await one_round(client, pushes, concurrency)
                rates.append(rate)
                print(f"round {n + 1}: {rate:,.0f} pushes/s ({failed} failed)")
        print(f"median {statistics.median(rates):,.0f} pushes/s over {rounds} rounds "
              f"of {pushes} (concurrency {concurrency}, one HTTP/2 connection)")  # fmt: skip
    finally:
        proc.terminate()
        await proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.pushes, args.concurrency, args.rounds))
