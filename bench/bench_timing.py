"""How fast failures are noticed and how fair the loop stays: the timing limits that the
test suite no longer asserts.

The tests prove *what* happens (a reset, not a timeout, failed the request; the loop
interleaves other tasks while sends are in flight); whether it happens fast enough
depends on the machine, so the limits live here, measured once per ``make bench``:

* H2 transport (against the in-process fake APNs and tiny misbehaving servers): a
  connection reset fails in-flight requests within 1 s; a 0.3 s request timeout fires
  within [0.3, 0.9) s; a refused connect fails within 1 s; a server without ALPN ``h2``
  is refused within 2 s; a TLS handshake that never finishes ends at the 0.3 s connect
  timeout, within [0.3, 1.0) s; after a cancelled request an unanswered PING drops the
  connection within 1 s;
* APNs: while 200 sends are in flight, a 5 ms sleeper never waits 250 ms or more;
* FCM: five answers that each take 0.3 s all arrive within 1 s (they overlap);
* the push gateway's 0.3 s deadline ends a push to a silent provider within 2 s;
* the APNs token: a dead worker's 100 ms mint lock delays the next token under 1 s;
* the local stack: a second ``stack up`` of a running stack returns within 10 s
  (starts and stops a private Kafka and Redis on free ports; ``--skip-stack`` skips it).

Prints one PASS/FAIL line per limit; exit status 1 when any limit is missed. Usage::

    .venv/bin/python bench/bench_timing.py [--skip-stack]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import ssl
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from engine.fakes import MemoryDeviceDirectory, MemoryTokenStore, MemoryVault
from engine.ports import Device, PushRequest
from engine.push.apns import ApnsClient
from engine.push.apns_token import ApnsTokenProvider
from engine.push.fcm import FcmClient
from engine.push.fcm_auth import AccessTokenProvider
from engine.push.gateway import ProviderPushGateway
from engine.push.h2_transport import H2Transport
from engine.push.retry import RetryPolicy
from engine.standins.fake_apns import FakeApns, write_tls_files
from engine.standins.fake_fcm import start_fake_fcm

KEY = ec.generate_private_key(ec.SECP256R1())
TOPIC, KID, TEAM = "com.nightline.app", "BENCHKEY01", "BENCHTEAM1"
DEV, SLOW, RESET = "a1" * 32, "b2" * 32, "c3" * 32
PATH = f"/3/device/{DEV}".encode()
results: list[tuple[str, float, bool]] = []


def check(what: str, seconds: float, ok: bool) -> None:
    results.append((what, seconds, ok))
    print(f"{'PASS' if ok else 'FAIL'}  {seconds * 1000:8.1f} ms  {what}", flush=True)


async def failing_after(call: Awaitable[Any]) -> float:
    """Seconds until ``call`` raises (returning is a failure of the bench itself)."""
    started = time.perf_counter()
    try:
        await call
    except Exception:
        return time.perf_counter() - started
    raise AssertionError("expected an error")


async def apns_headers() -> list[tuple[bytes, bytes]]:
    token = await ApnsTokenProvider(KEY, KID, TEAM, MemoryTokenStore()).token()
    return [
        (b"apns-push-type", b"alert"),
        (b"apns-priority", b"10"),
        (b"apns-topic", TOPIC.encode()),
        (b"authorization", f"bearer {token}".encode()),
    ]


async def serve(factory: Callable[[], asyncio.Protocol], certs: Path, alpn: bool) -> Any:
    _, cert, key = write_tls_files(certs)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if alpn:
        ctx.set_alpn_protocols(["h2"])
    return await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0, ssl=ctx)


class Silent(asyncio.Protocol):
    """Sends the h2 preface and SETTINGS, then never answers anything (PING included)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        import h2.config
        import h2.connection

        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        transport.write(conn.data_to_send())  # type: ignore[attr-defined]


async def h2_limits(certs: Path) -> None:
    headers = await apns_headers()
    async with FakeApns(KEY, KID, TEAM, certs, topic=TOPIC) as fake:
        trust = ssl.create_default_context(cafile=str(fake.ca_file))
        transport = H2Transport(fake.url, trust, connect_timeout_s=0.4)
        post = lambda dev, timeout: transport.request(  # noqa: E731
            b"POST", f"/3/device/{dev}".encode(), headers, b'{"aps":{}}', timeout
        )
        await post(DEV, 5.0)
        fake.faults.update({SLOW: {"slow": 3.0}, RESET: {"reset": True, "times": 1}})
        slow = [asyncio.create_task(post(SLOW, 5.0)) for _ in range(5)]
        while fake.peak_streams < 5:
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        await asyncio.gather(post(RESET, 5.0), *slow, return_exceptions=True)
        check("h2: a reset fails in-flight requests (< 1 s)",
              elapsed := time.perf_counter() - started, elapsed < 1.0)  # fmt: skip
        fake.faults[SLOW] = {"slow": 1.0, "times": 1}
        elapsed = await failing_after(post(SLOW, 0.3))
        check("h2: a 0.3 s request timeout fires ([0.3, 0.9) s)", elapsed, 0.3 <= elapsed < 0.9)
        await transport.aclose()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = H2Transport(f"https://127.0.0.1:{port}", ssl.create_default_context())
    elapsed = await failing_after(refused.request(b"POST", PATH, headers, b"{}", 5.0))
    check("h2: a refused connect fails (< 1 s)", elapsed, elapsed < 1.0)
    ca = write_tls_files(certs)[0]
    trust = ssl.create_default_context(cafile=str(ca))
    server = await serve(asyncio.Protocol, certs, alpn=False)
    no_alpn = H2Transport(f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}", trust)
    elapsed = await failing_after(no_alpn.request(b"POST", PATH, headers, b"{}", 5.0))
    check("h2: a server without ALPN h2 is refused (< 2 s)", elapsed, elapsed < 2.0)
    server.close()
    held: list[asyncio.StreamWriter] = []
    mute = await asyncio.start_server(lambda _, w: held.append(w), "127.0.0.1", 0)
    stuck = H2Transport(f"https://127.0.0.1:{mute.sockets[0].getsockname()[1]}",
                        ssl.create_default_context(), connect_timeout_s=0.3)  # fmt: skip
    elapsed = await failing_after(stuck.request(b"POST", PATH, headers, b"{}", 5.0))
    check("h2: a TLS handshake that never ends hits the 0.3 s connect timeout ([0.3, 1.0) s)",
          elapsed, 0.3 <= elapsed < 1.0)  # fmt: skip
    for writer in held:
        writer.close()
    mute.close()
    server = await serve(Silent, certs, alpn=True)
    silent = H2Transport(f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}", trust,
                         connect_timeout_s=0.3)  # fmt: skip
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(silent.request(b"POST", PATH, headers, b"{}", 5.0), 0.2)
    elapsed = await failing_after(silent.request(b"POST", PATH, headers, b"{}", 5.0))
    check("h2: after a cancelled request, an unanswered PING drops the connection (< 1 s)",
          elapsed, elapsed < 1.0)  # fmt: skip
    await silent.aclose()
    server.close()


async def apns_loop_gap(certs: Path) -> None:
    tokens = ApnsTokenProvider(KEY, KID, TEAM, MemoryTokenStore())
    async with FakeApns(KEY, KID, TEAM, certs, topic=TOPIC) as fake, ApnsClient(
        fake.url, TOPIC, tokens, verify=str(fake.ca_file), timeout_s=5.0
    ) as client:  # fmt: skip
        done, gaps = asyncio.Event(), [0.0]

        async def ticker() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        await asyncio.gather(*(client.send(DEV, {"d": "x"}, urgency="urgent", collapse_id="x",
                                           expiration_s=60) for _ in range(200)))  # fmt: skip
        done.set()
        await tick
    check("apns: longest loop gap while 200 sends are in flight (< 250 ms)",
          max(gaps), max(gaps) < 0.25)  # fmt: skip


async def fcm_overlap(work: Path) -> None:
    fake = await start_fake_fcm(work / "sa.json")
    async with httpx.AsyncClient() as http:
        auth = AccessTokenProvider(fake.account, http)
        client = FcmClient(fake.base_url, fake.account.project_id, auth, timeout_s=5.0)
        await auth.token()
        for i in range(5):
            fake.set_fault(f"tok-{i}", "slow", times=1, delay_s=0.3)
        started = time.perf_counter()
        await asyncio.gather(*(client.send(f"tok-{i}", {"d": "x"}, ttl_s=60, urgency="stat")
                               for i in range(5)))  # fmt: skip
        elapsed = time.perf_counter() - started
        await client.aclose()
    await fake.stop()
    check("fcm: five 0.3 s answers overlap (< 1 s)", elapsed, elapsed < 1.0)


async def gateway_deadline(certs: Path) -> None:
    tokens = ApnsTokenProvider(KEY, KID, TEAM, MemoryTokenStore())
    async with FakeApns(KEY, KID, TEAM, certs, topic=TOPIC) as fake, ApnsClient(
        fake.url, TOPIC, tokens, verify=str(fake.ca_file), timeout_s=5.0,
        retry=RetryPolicy(max_attempts=3, base_delay_s=0.01),
    ) as client:  # fmt: skip
        fake.faults[DEV] = {"slow": 5.0}
        registry = MemoryDeviceDirectory()
        gateway = ProviderPushGateway(MemoryVault(), registry, client, None, deadline_s=0.3)
        device = Device("phone-1", "dr-bench", "ios", DEV)
        started = time.perf_counter()
        await gateway.send(PushRequest("d-bench", device, "urgent", 0, 1, "Urgent message"))
        elapsed = time.perf_counter() - started
    check("gateway: the 0.3 s deadline ends a push to a silent provider (< 2 s)",
          elapsed, elapsed < 2.0)  # fmt: skip


async def stale_token_lock() -> None:
    store = MemoryTokenStore()  # expiry on the real monotonic clock
    await store.set(f"nightline:apns:token:{TEAM}:{KID}:lock", "dead", nx=True, px=100)
    provider = ApnsTokenProvider(KEY, KID, TEAM, store, lock_ttl_ms=100)
    started = time.perf_counter()
    await provider.token()
    elapsed = time.perf_counter() - started
    check("apns token: a dead worker's 100 ms lock delays the next token (< 1 s)",
          elapsed, elapsed < 1.0)  # fmt: skip


def stack_reuse(work: Path) -> None:
    from engine.settings import load_settings
    from engine.stack import stack_down, stack_up

    ports = []
    for _ in range(3):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    settings = load_settings(state_dir=work / "stack", kafka_port=ports[0],
                             kafka_controller_port=ports[1], redis_port=ports[2],
                             kafka_bootstrap_servers=None, redis_url=None)  # fmt: skip
    try:
        stack_up(settings, timeout_s=120)
        started = time.perf_counter()
        again = stack_up(settings)
        elapsed = time.perf_counter() - started
    finally:
        stack_down(settings)
    reused = (again.kafka_state, again.redis_state) == ("reused", "reused")
    check("stack: a second `stack up` reuses the running stack (< 10 s)",
          elapsed, reused and elapsed < 10)  # fmt: skip


async def main(skip_stack: bool) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-timing-"))
    certs = work / "certs"
    await h2_limits(certs)
    await apns_loop_gap(certs)
    await fcm_overlap(work)
    await gateway_deadline(certs)
    await stale_token_lock()
    if not skip_stack:
        stack_reuse(work)
    missed = [what for what, _, ok in results if not ok]
    print(f"{'FAIL' if missed else 'PASS'}: {len(results) - len(missed)} of {len(results)} "
          "timing limits met")  # fmt: skip
    return 1 if missed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-stack", action="store_true", help="skip the stack reuse check")
    sys.exit(asyncio.run(main(parser.parse_args().skip_stack)))
