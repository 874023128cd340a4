"""H2Transport against the fake APNs (in-process, free port) and tiny misbehaving servers.

No wall-clock thresholds: where a test shows that one thing (a reset, a refused
connect, an unanswered PING) ended a request, every other way it could end is made
impossible within the test (timeouts of :data:`LONG`), and the error says which path
was taken. :data:`HANG_GUARD` only stops a broken transport from hanging the suite.
How fast each of these fails is measured by ``bench/bench_timing.py`` (``make bench``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from engine.fakes import MemoryTokenStore
from engine.push.apns_token import ApnsTokenProvider
from engine.push.h2_transport import (
    ConnectionLost,
    H2Transport,
    TransportError,
    TransportTimeout,
)
from engine.standins.fake_apns import FakeApns, write_tls_files

KEY = ec.generate_private_key(ec.SECP256R1())
TOPIC, KID, TEAM = "com.nightline.app", "KID0000001", "TEAM000001"
DEV, SLOW, RESET, GOAWAY = "a1" * 32, "b2" * 32, "c3" * 32, "d4" * 32
LONG = 3600.0  # a timeout that never runs out within a test
HANG_GUARD = 60.0  # seconds before a wait that should end much sooner fails the test


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("h2-transport-certs")


@pytest.fixture()
async def fake(cert_dir: Path) -> AsyncIterator[FakeApns]:
    async with FakeApns(KEY, KID, TEAM, cert_dir, topic=TOPIC) as server:
        yield server


@pytest.fixture()
async def headers() -> list[tuple[bytes, bytes]]:
    token = await ApnsTokenProvider(KEY, KID, TEAM, MemoryTokenStore()).token()
    return [
        (b"apns-push-type", b"alert"),
        (b"apns-priority", b"10"),
        (b"apns-topic", TOPIC.encode()),
        (b"authorization", b"bearer " + token.encode()),
    ]


def trust(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


@pytest.fixture()
async def transport(fake: FakeApns) -> AsyncIterator[H2Transport]:
    t = H2Transport(fake.url, trust(fake.ca_file), connect_timeout_s=30.0)
    yield t
    await t.aclose()


Post = Callable[..., Awaitable[tuple[int, dict[str, str], bytes]]]


@pytest.fixture()
def post(transport: H2Transport, headers: list[tuple[bytes, bytes]]) -> Post:
    async def post(device: str = DEV, timeout_s: float = 30.0, **payload: Any) -> Any:
        body = json.dumps({"aps": {}, **payload}).encode()
        path = f"/3/device/{device}".encode()
        return await transport.request(b"POST", path, headers, body, timeout_s)

    return post


async def wait_for(condition: Callable[[], bool], timeout_s: float = HANG_GUARD) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_single_request_status_headers_body(fake: FakeApns, post: Post) -> None:
    status, found, body = await post()
    assert status == 200 and body == b"" and len(found["apns-id"]) == 36
    fake.faults[DEV] = {"status": 410, "reason": "Unregistered", "retry_after": 7}
    status, found, body = await post()
    assert (status, found["retry-after"]) == (410, "7")
    assert json.loads(body) == {"reason": "Unregistered"}
    assert all(name == name.lower() and not name.startswith(":") for name in found)


async def test_2000_concurrent_requests_within_max_concurrent_streams(
    cert_dir: Path, headers: list[tuple[bytes, bytes]]
) -> None:
    async with FakeApns(KEY, KID, TEAM, cert_dir, max_concurrent_streams=50) as fake:
        fake.faults[SLOW] = {"slow": 0.02}  # keep streams open, so the limit is reached
        transport = H2Transport(fake.url, trust(fake.ca_file))
        body, path = b'{"aps":{}}', f"/3/device/{SLOW}".encode()
        try:
            results = await asyncio.gather(
                *(transport.request(b"POST", path, headers, body, LONG) for _ in range(2000))
            )
        finally:
            await transport.aclose()
        assert [r[0] for r in results] == [200] * 2000
        assert len(fake.received) == 2000
        assert fake.peak_streams == 50  # the limit was reached, never exceeded
        assert fake.connections_accepted == 1


async def test_reset_fails_in_flight_with_connection_lost_then_reconnects(
    fake: FakeApns, post: Post
) -> None:
    assert (await post())[0] == 200
    fake.faults[SLOW] = {"slow": LONG}  # never answered within the test
    fake.faults[RESET] = {"reset": True, "times": 1}
    slow = [asyncio.create_task(post(SLOW, timeout_s=LONG)) for _ in range(5)]
    await wait_for(lambda: fake.peak_streams >= 5)
    with pytest.raises(ConnectionLost):
        await asyncio.wait_for(post(RESET, timeout_s=LONG), HANG_GUARD)
    for task in slow:  # no answer and no timeout could end them: only the reset did
        with pytest.raises(ConnectionLost, match="connection"):
            await asyncio.wait_for(task, HANG_GUARD)
    assert (await post())[0] == 200
    assert fake.connections_accepted == 2


async def test_slow_stream_times_out_while_others_succeed_on_the_connection(
    fake: FakeApns, post: Post, transport: H2Transport
) -> None:
    transport.connect_timeout_s = LONG  # the PING probe after the timeout may take its time
    fake.faults[SLOW] = {"slow": 1.0, "times": 1}  # answered, but only after its 0.3 s timeout
    slow = asyncio.create_task(post(SLOW, timeout_s=0.3))
    others = await asyncio.gather(*(post() for _ in range(20)))
    assert [r[0] for r in others] == [200] * 20
    with pytest.raises(TransportTimeout, match="no response in time"):
        await asyncio.wait_for(slow, HANG_GUARD)
    conn = transport._conn
    assert conn is not None
    await wait_for(lambda: fake.streams_reset == 1)  # RST_STREAM for the abandoned stream
    await wait_for(lambda: conn.ping_timer is None)  # the PING probe was answered
    # The fake got the request before the RST_STREAM, so its late answer is out within
    # 1 s from now, on the same TCP stream ahead of the next response.
    await asyncio.sleep(1.0)
    assert (await post())[0] == 200
    assert fake.connections_accepted == 1 and transport._conn is conn  # connection kept


async def test_goaway_fails_unprocessed_streams_then_reconnects(fake: FakeApns, post: Post) -> None:
    assert (await post())[0] == 200  # stream 1: processed
    fake.faults[GOAWAY] = {"goaway": True, "times": 1}
    results = await asyncio.gather(post(GOAWAY), post(), return_exceptions=True)
    assert all(isinstance(r, ConnectionLost) for r in results), results
    assert "not processed" in str(results[0]) and "Shutdown" in str(results[0])
    assert len(fake.received) == 1  # neither later stream was processed
    assert (await post())[0] == 200
    assert fake.connections_accepted == 2 and len(fake.received) == 2


async def test_connect_to_closed_port_fails_at_once(headers: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    transport = H2Transport(
        f"https://127.0.0.1:{port}", ssl.create_default_context(), connect_timeout_s=LONG
    )
    with pytest.raises(TransportError, match="failed") as caught:
        request = transport.request(b"POST", b"/3/device/" + DEV.encode(), headers, b"{}", LONG)
        await asyncio.wait_for(request, HANG_GUARD)
    assert type(caught.value) is TransportError  # refused, not timed out


@pytest.mark.parametrize("alpn", [None, ["http/1.1"]])
async def test_server_without_alpn_h2_is_refused(
    cert_dir: Path, headers: Any, alpn: list[str] | None
) -> None:
    ca, cert, key = write_tls_files(cert_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    server = await asyncio.get_running_loop().create_server(
        asyncio.Protocol, "127.0.0.1", 0, ssl=ctx
    )
    port = server.sockets[0].getsockname()[1]
    transport = H2Transport(f"https://127.0.0.1:{port}", trust(ca), connect_timeout_s=LONG)
    try:
        with pytest.raises(TransportError, match="ALPN") as caught:
            request = transport.request(b"POST", b"/3/device/" + DEV.encode(), headers, b"{}", LONG)
            await asyncio.wait_for(request, HANG_GUARD)
        assert type(caught.value) is TransportError  # refused, not timed out
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()


async def test_connect_that_never_finishes_tls_times_out(headers: Any) -> None:
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accept TCP, never answer the TLS ClientHello

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = H2Transport(
        f"https://127.0.0.1:{port}", ssl.create_default_context(), connect_timeout_s=0.3
    )
    try:  # the request's own timeout is LONG: only the 0.3 s connect timeout can end it
        with pytest.raises(TransportTimeout, match=r"connect to .* took over 0.3 s"):
            request = transport.request(b"POST", b"/3/device/" + DEV.encode(), headers, b"{}", LONG)
            await asyncio.wait_for(request, HANG_GUARD)
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_concurrent_first_requests_share_one_connect(fake: FakeApns, post: Post) -> None:
    results = await asyncio.gather(*(post() for _ in range(30)))
    assert [r[0] for r in results] == [200] * 30
    assert fake.connections_accepted == 1


async def test_flow_control_large_request_and_response_bodies(
    fake: FakeApns, post: Post, transport: H2Transport
) -> None:
    big = "x" * 3000  # 300 pushes of ~3 KB: /_fake/received answers ~1 MB
    results = await asyncio.gather(*(post(blob=big) for _ in range(300)))
    assert [r[0] for r in results] == [200] * 300
    status, _, body = await transport.request(b"GET", b"/_fake/received", [], b"", 30.0)
    assert status == 200 and len(body) > 900_000 and len(json.loads(body)["received"]) == 300
    # a 300 KB request body (over the 64 KB windows) arrives whole: the fake reads all of it
    status, _, body = await post(blob="y" * 300_000)
    assert (status, json.loads(body)["reason"]) == (413, "PayloadTooLarge")


async def test_stream_id_exhaustion_moves_to_a_new_connection(
    fake: FakeApns, post: Post, transport: H2Transport
) -> None:
    assert (await post())[0] == 200
    conn = transport._conn
    assert conn is not None
    conn.h2.highest_outbound_stream_id = 2**31 - 3  # the next stream is the last one
    assert (await post())[0] == 200  # stream 2**31-1, same connection
    assert fake.connections_accepted == 1
    assert (await post())[0] == 200  # no stream id left: a new connection
    assert fake.connections_accepted == 2 and transport._conn is not conn


async def test_cancelled_request_resets_its_stream(fake: FakeApns, post: Post) -> None:
    fake.faults[SLOW] = {"slow": 2.0}
    task = asyncio.create_task(post(SLOW))
    await wait_for(lambda: fake.peak_streams == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(lambda: fake.streams_reset == 1)
    assert (await post())[0] == 200 and fake.connections_accepted == 1


async def test_aclose_fails_in_flight_and_the_transport_reconnects_after(
    fake: FakeApns, post: Post, transport: H2Transport
) -> None:
    fake.faults[SLOW] = {"slow": 2.0}
    task = asyncio.create_task(post(SLOW))
    await wait_for(lambda: fake.peak_streams == 1)
    await transport.aclose()
    with pytest.raises(ConnectionLost):
        await task
    assert (await post())[0] == 200 and fake.connections_accepted == 2


async def test_invalid_headers_are_refused_before_anything_is_sent(
    fake: FakeApns, post: Post, transport: H2Transport, headers: list[tuple[bytes, bytes]]
) -> None:
    path = b"/3/device/" + DEV.encode()
    for bad in [(b"apns-collapse-id", b"a\r\nb"), (b"Apns-Topic", b"x"), (b"connection", b"x")]:
        with pytest.raises(ValueError, match="invalid request header"):
            await transport.request(b"POST", path, [*headers, bad], b"{}", 1.0)
    assert fake.connections_accepted == 0  # nothing reached the wire
    assert (await post())[0] == 200 and len(fake.received) == 1


class _Silent(asyncio.Protocol):
    """An h2 server that sends its SETTINGS and then never answers anything, PING included.
    It counts the connections it accepted and the requests it received."""

    def __init__(self, counts: collections.Counter[str]) -> None:
        self.counts = counts
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.counts["connections"] += 1
        self.h2.initiate_connection()
        transport.write(self.h2.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self.h2.receive_data(data):  # what h2 would answer is never sent
            if isinstance(event, h2.events.RequestReceived):
                self.counts["requests"] += 1


@pytest.fixture()
async def silent(cert_dir: Path) -> AsyncIterator[tuple[str, Path, collections.Counter[str]]]:
    """(URL, CA file, counts) of a silent h2 server on a free port."""
    ca, cert, key = write_tls_files(cert_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2"])
    counts: collections.Counter[str] = collections.Counter()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Silent(counts), "127.0.0.1", 0, ssl=ctx)
    yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}", ca, counts
    server.close()
    await server.wait_closed()


async def _stream_on_a_silent_connection(
    transport: H2Transport, headers: Any, counts: collections.Counter[str]
) -> asyncio.Task[Any]:
    """A request that nothing but a dropped connection can end (no answer, LONG timeout),
    once its stream is open; then PINGs on that connection may go unanswered for 0.3 s."""
    path = b"/3/device/" + DEV.encode()
    other = asyncio.create_task(transport.request(b"POST", path, headers, b"{}", LONG))
    await wait_for(lambda: counts["requests"] == 1)
    transport.connect_timeout_s = 0.3  # read when a PING goes out: how long it may go unanswered
    return other


async def test_silent_connection_is_dropped_after_unanswered_ping(
    silent: tuple[str, Path, collections.Counter[str]], headers: Any
) -> None:
    url, ca, counts = silent
    transport = H2Transport(url, trust(ca), connect_timeout_s=LONG)
    path = b"/3/device/" + DEV.encode()
    try:
        other = await _stream_on_a_silent_connection(transport, headers, counts)
        with pytest.raises(TransportTimeout, match="no response in time"):
            await asyncio.wait_for(
                transport.request(b"POST", path, headers, b"{}", 0.2), HANG_GUARD
            )
        with pytest.raises(ConnectionLost, match="no answer to PING after a timeout"):
            await asyncio.wait_for(other, HANG_GUARD)
        transport.connect_timeout_s = LONG
        with pytest.raises(TransportTimeout, match="no response in time"):
            await asyncio.wait_for(
                transport.request(b"POST", path, headers, b"{}", 0.2), HANG_GUARD
            )
        assert counts["connections"] == 2  # the dead connection was replaced
    finally:
        await transport.aclose()


async def test_silent_connection_is_dropped_after_cancelled_requests(
    silent: tuple[str, Path, collections.Counter[str]], headers: Any
) -> None:
    """An outer deadline (the gateway's asyncio.timeout) cancels requests before their own
    timeout_s: the cancel probes the connection like a timeout does, so a silent server
    does not keep a dead connection "usable" forever."""
    url, ca, counts = silent
    transport = H2Transport(url, trust(ca), connect_timeout_s=LONG)
    path = b"/3/device/" + DEV.encode()
    try:
        other = await _stream_on_a_silent_connection(transport, headers, counts)
        with pytest.raises(TimeoutError):  # cancelled by the outer deadline, not timed out
            await asyncio.wait_for(transport.request(b"POST", path, headers, b"{}", LONG), 0.2)
        with pytest.raises(ConnectionLost, match="no answer to PING after a cancelled request"):
            await asyncio.wait_for(other, HANG_GUARD)
        transport.connect_timeout_s = LONG
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(transport.request(b"POST", path, headers, b"{}", LONG), 0.2)
        await wait_for(lambda: counts["connections"] == 2)  # the dead connection was replaced
    finally:
        await transport.aclose()


async def test_values_new_in_each_request_stay_out_of_the_hpack_table(
    transport: H2Transport, headers: list[tuple[bytes, bytes]], fake: FakeApns
) -> None:
    """Per-request values (the device path, a dispatch's collapse id, the body length)
    and secrets are never indexed: the table keeps only what requests share, so each
    search of it stays short. The fake still decodes every request."""
    for i in range(40):
        device = f"{i:064x}".encode()
        extra = [(b"apns-collapse-id", f"d-{i}".encode())]
        status, _, _ = await transport.request(
            b"POST", b"/3/device/" + device, headers + extra, b'{"aps":{}}' + b" " * i, LONG
        )
        assert status == 200
    assert transport._conn is not None
    indexed = {name for name, _ in transport._conn.h2.encoder.header_table.dynamic_entries}
    assert indexed and not indexed & {
        b":path",
        b"apns-collapse-id",
        b"content-length",
        b"authorization",
    }
    assert len(transport._conn.h2.encoder.header_table.dynamic_entries) <= 5
    assert len(fake.received) == 40
