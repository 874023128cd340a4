"""One multiplexed HTTP/2-over-TLS connection to one origin: the APNs client's transport.

Why it exists: :class:`~engine.push.apns.ApnsClient` first went through httpcore's
``AsyncConnectionPool`` (with a small asyncio-streams network backend under it). A profile of
``bench/bench_push.py`` put httpcore's pool and connection machinery plus anyio's
locks and cancel scopes at ~21 % of the worker's CPU per push, which left the push
path at 980-1,140 pushes/s against a 1,000/s target on a 2-core VM. APNs needs none
of that machinery: one origin, POSTs with small bodies, one long-lived connection
with many streams. So this module is only the connection I/O glue around ``h2``
(which still does all of HTTP/2: framing, HPACK, state machines, flow-control
accounting), the way aioapns does it: an :class:`asyncio.Protocol` feeds bytes to
``h2`` and turns its events into per-stream futures. A request costs one future,
one timer and one ``transport.write``; there is no task, lock or cancel scope per
request. Two more per-request costs are cut on the h2 side: header blocks use raw
HPACK literals (pure-Python Huffman coding of the bearer token, path and collapse
id was ~100 us a push), and h2's outbound header normalisation/validation is off
because :meth:`H2Transport.request` checks the few headers itself, before h2 sees
them (a failure inside h2's lazy validation would also leave the HPACK table
half-updated for a frame never sent). ``authorization`` stays never-indexed.

Measured on the 2-core VM (``bench/bench_push.py``, 3 x 5,000 pushes, median):
httpcore 974-996 pushes/s at ~1,000 us worker CPU a push; this transport 1,930-2,100
pushes/s at 470-510 us, p99 loop lag ~5 ms. ``bench/bench_apns.py``: 1,539 -> 3,800-4,070.

What it handles:

* lazy connect on the first request (TCP + TLS, ALPN must select ``h2``, then the
  server's first SETTINGS), bounded by ``connect_timeout_s``; concurrent first
  requests share one connect;
* one connection at a time; after it is lost, or after a GOAWAY, the next request
  opens a new one;
* ``SETTINGS_MAX_CONCURRENT_STREAMS``: when that many streams are open, further
  requests queue (first come, first served) until one closes, bounded by their
  ``timeout_s``; queued requests have sent nothing, so they move to a new
  connection when the old one goes away;
* stream-id exhaustion (2**31-1): the connection is retired (its open streams
  finish on it, then it is closed) and the request goes to a new connection;
* flow control: request DATA only within the stream and connection windows and
  ``max_outbound_frame_size``, the rest is sent on WINDOW_UPDATE; received DATA is
  acknowledged so the server's windows never run dry;
* timeouts: a request without a complete response after ``timeout_s`` fails with
  :class:`TransportTimeout` and its stream is reset (RST_STREAM CANCEL); the
  connection stays for the other streams, but is probed with a PING, and dropped
  if that is not answered within ``connect_timeout_s`` (a silently dead TCP
  connection would otherwise time out every request forever);
* cancellation: a request whose caller is cancelled (e.g. an outer
  ``asyncio.timeout`` shorter than ``timeout_s``) has its stream reset the same
  way, and the connection is PING-probed just like after a timeout;
* connection loss (reset, EOF, protocol error): every in-flight stream fails with
  :class:`ConnectionLost`;
* GOAWAY: streams above ``last_stream_id`` were not processed and fail with
  :class:`ConnectionLost` ("not processed", safe to resend). h2 moves the whole
  connection to CLOSED on GOAWAY and rejects any later frame (python-hyper/h2
  issue #1181), so responses to streams at or below ``last_stream_id`` can not be
  read either: they fail with :class:`ConnectionLost` too ("response lost"), as
  they did under httpcore;
* PING from the server: ``h2`` answers it; whatever ``h2`` has to send is written
  after every receive;
* fairness: complete responses are handed to their callers two per event-loop
  iteration (:meth:`_Connection._deliver`), so a read that completes dozens of
  streams does not run all their callers' follow-up work in one iteration.

Writes are not awaited (no ``drain``): what is in flight is bounded by the
server's stream limit times a small request, and every request by its timeout.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import ssl
from typing import Any, cast
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack

__all__ = ["ConnectionLost", "H2Transport", "TransportError", "TransportTimeout"]

Response = tuple[int, dict[str, str], bytes]

_PING_PAYLOAD = b"nl-alive"  # 8 bytes, as PING requires
_CANCEL = h2.errors.ErrorCodes.CANCEL
# Responses handed to their callers per event-loop iteration (see _Connection._deliver).
_DELIVER_PER_ITERATION = 2
_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
_BAD_VALUE = re.compile(rb"[\x00\r\n]|^[ \t]|[ \t]$")
_PATH = re.compile(rb"/[\x21-\x7e]*")
_FORBIDDEN = frozenset(
    (b"connection", b"content-length", b"host", b"keep-alive", b"proxy-connection", b"te",
     b"transfer-encoding", b"upgrade")
)  # fmt: skip
_NEVER_INDEXED = frozenset(
    (b"authorization", b"proxy-authorization", b"apns-collapse-id", b"apns-id")
)
"""Sent as literals and never added to the HPACK table: secrets, and values new in each
request (a dispatch's collapse id), which would only evict the shared entries and make
every table search longer (measured: HPACK encoding fell from ~380 to ~260 us per push)."""


class _RawLiteralEncoder(hpack.Encoder):
    """HPACK without Huffman coding: valid HPACK, a few dozen bytes more per request,
    and no pure-Python Huffman encoder on the hot path (~100 us per push)."""

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        return super().encode(headers, huffman=False)


class TransportError(Exception):
    """No (complete) response: connect, TLS/ALPN or protocol failure, reset stream."""


class TransportTimeout(TransportError):
    """A connect or a response took longer than allowed."""


class ConnectionLost(TransportError):
    """The connection went away (reset, EOF, GOAWAY) before the response was complete."""


class _Stream:
    """One request in flight: its future, its timer and what came back so far."""

    __slots__ = ("body", "future", "headers", "pending", "status", "stream_id", "timer")

    def __init__(self, stream_id: int, future: asyncio.Future[Response]) -> None:
        self.stream_id = stream_id
        self.future = future
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.pending: bytes = b""  # request body still waiting for flow-control window
        self.timer: asyncio.TimerHandle | None = None


def _response_headers(raw: Any) -> tuple[int, dict[str, str]]:
    status, headers = 0, {}
    for name, value in raw or ():
        if name == b":status":
            status = int(value)
        elif name[:1] != b":":
            headers[name.decode("latin-1")] = value.decode("latin-1")
    return status, headers


class _Connection(asyncio.Protocol):
    """One TLS connection: bytes in and out, ``h2`` events to stream futures."""

    def __init__(self, owner: H2Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.owner, self.loop = owner, loop
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,  # request() checked them, before h2 saw them
            normalize_outbound_headers=False,
        )
        self.h2 = h2.connection.H2Connection(config=config)
        self.h2.encoder = _RawLiteralEncoder()
        self.h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
            },
        )
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = loop.create_future()  # server SETTINGS arrived
        self.closed: asyncio.Future[None] = loop.create_future()  # connection_lost ran
        self.streams: dict[int, _Stream] = {}
        self.blocked: dict[int, _Stream] = {}  # streams with request DATA waiting for window
        self.deliveries: collections.deque[_Stream] = collections.deque()  # complete, to hand out
        self.waiters: collections.deque[asyncio.Future[bool]] = collections.deque()
        self.granted = 0  # waiters woken with a slot that have not opened their stream yet
        self.max_streams = 0  # until the server's SETTINGS
        self.usable = True  # False once lost, after GOAWAY, or retired (no stream ids)
        self.ping_timer: asyncio.TimerHandle | None = None
        self.reason = "connection closed"

    # --- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's does not subclass asyncio.Transport, though it is one)
        self.transport = transport = cast(asyncio.Transport, base)
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if alpn != "h2":
            self.reason = f"server did not select ALPN h2 (selected {alpn!r})"
            self.usable = False
            if not self.ready.done():
                self.ready.set_exception(TransportError(self.reason))
            transport.abort()
            return
        self.h2.initiate_connection()
        transport.write(self.h2.data_to_send())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.usable:  # else abort(), GOAWAY or retire() already said why
            self.reason = f"connection lost: {exc}" if exc else "connection closed by server"
        self.usable = False
        if not self.ready.done():
            self.ready.set_exception(ConnectionLost(self.reason))
            self.ready.exception()  # retrieved: the connect may have timed out already
        self._fail_all(self.reason)
        if self.ping_timer is not None:
            self.ping_timer.cancel()
            self.ping_timer = None
        self.owner._forget(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost fails what is in flight

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self.abort(f"HTTP/2 protocol error: {exc!r}")
            return
        for event in events:
            if isinstance(event, h2.events.ResponseReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.status, stream.headers = _response_headers(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None and event.data:
                    stream.body += event.data
                if event.flow_controlled_length:
                    with contextlib.suppress(h2.exceptions.StreamClosedError):
                        self.h2.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
            elif isinstance(event, h2.events.StreamEnded):
                self._ended(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                error = TransportError(f"stream reset by server ({event.error_code!r})")
                self._finish(event.stream_id, error)
            elif isinstance(event, h2.events.WindowUpdated):
                if self.blocked:
                    self._window_updated(event.stream_id)
            elif isinstance(event, h2.events.RemoteSettingsChanged):
                self._settings_changed(event)
            elif isinstance(event, h2.events.PingAckReceived):
                if self.ping_timer is not None:
                    self.ping_timer.cancel()
                    self.ping_timer = None
            elif isinstance(event, h2.events.ConnectionTerminated):
                self._goaway(event)
        self.flush()

    # --- requests ------------------------------------------------------------------------

    def has_slot(self) -> bool:
        """A new request may open a stream now (nobody queued before it, under the limit)."""
        waiters = self.waiters
        while waiters and waiters[0].done():  # timed out or cancelled while queued
            waiters.popleft()
        return not waiters and len(self.streams) + self.granted < self.max_streams

    def open_stream(
        self, request_headers: list[tuple[bytes, bytes]], body: bytes, deadline: float
    ) -> _Stream:
        """Send one request; raises ``NoAvailableStreamIDError`` / ``TooManyStreamsError``."""
        conn = self.h2
        stream_id = conn.get_next_available_stream_id()
        conn.send_headers(stream_id, request_headers, end_stream=not body)
        stream = _Stream(stream_id, self.loop.create_future())
        self.streams[stream_id] = stream
        if body:
            stream.pending = body
            self._send_pending(stream)
        self.flush()
        stream.timer = self.loop.call_at(deadline, self._expire, stream)
        return stream

    def cancel(self, stream: _Stream) -> None:
        """The caller gave up (cancelled): reset the stream, free its slot, probe.

        Cancelled usually means an outer deadline (the gateway's ``asyncio.timeout``)
        ran out before the request's own ``timeout_s``: as after a timeout, the
        connection is PING-probed, else a silently dead one would stay "usable".
        """
        if self.streams.get(stream.stream_id) is stream:
            self._drop(stream, reset=True)
            self._probe("no answer to PING after a cancelled request")
            self.flush()

    async def wait_slot(self, deadline: float) -> bool:
        """Queue for a stream slot: True when granted one, False when the connection went."""
        waiter: asyncio.Future[bool] = self.loop.create_future()
        self.waiters.append(waiter)
        timer = self.loop.call_at(deadline, _expire_waiter, waiter)
        try:
            granted = await waiter
        except asyncio.CancelledError:
            if _granted(waiter):  # granted, then cancelled before using it: pass it on
                self.granted -= 1
                self._wake()
            raise
        finally:
            timer.cancel()
        if granted:
            self.granted -= 1  # the caller opens its stream right away, with no await between
        return granted

    # --- connection state ----------------------------------------------------------------

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def abort(self, reason: str) -> None:
        self.reason = reason
        self.usable = False
        if self.transport is not None:
            self.transport.abort()  # connection_lost follows and fails the streams

    def retire(self) -> None:
        """No new streams here (stream ids exhausted); close once the open ones are done."""
        self.usable = False
        self.owner._forget(self)
        self._release_waiters()
        if not self.streams:
            self.close()

    def close(self) -> None:
        self.usable = False
        if self.transport is not None and not self.transport.is_closing():
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.h2.close_connection()
            self.flush()
            self.transport.close()

    # --- internals -----------------------------------------------------------------------

    def _settings_changed(self, event: h2.events.RemoteSettingsChanged) -> None:
        codes = h2.settings.SettingCodes
        self.max_streams = min(self.h2.remote_settings.max_concurrent_streams, 2**31)
        if codes.INITIAL_WINDOW_SIZE in event.changed_settings and self.blocked:
            self._resume_blocked()
        if not self.ready.done():
            self.ready.set_result(None)
        self._wake()

    def _goaway(self, event: h2.events.ConnectionTerminated) -> None:
        last = event.last_stream_id or 0
        code = event.error_code
        extra = f" {event.additional_data!r}" if event.additional_data else ""
        self.usable = False
        self.owner._forget(self)
        self.reason = f"GOAWAY ({code!r}{extra})"
        for stream_id in list(self.streams):
            what = "stream not processed" if stream_id > last else "response lost"
            self._finish(stream_id, ConnectionLost(f"{self.reason}: {what}"))
        self._release_waiters()
        self.close()

    def _ended(self, stream_id: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        early = bool(stream.pending)  # full response before our body was sent: stop sending
        self._drop(stream, reset=early)
        self.deliveries.append(stream)
        if len(self.deliveries) == 1:
            self.loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        """Hand a few complete responses to their callers per loop iteration.

        One read often completes dozens of streams. Waking all their callers at once
        runs all their follow-up work (the worker encrypts its next push) in one loop
        iteration: in ``bench_push`` 24 callers x ~0.5 ms stalled every other
        coroutine for ~30 ms (p99 loop lag, was 1.6 ms under httpcore). Two per
        iteration keep it at ~5 ms for the same throughput (1 costs ~10 %: more,
        smaller reads and writes; 4 gives the same rate at ~8 ms).
        """
        deliveries = self.deliveries
        for _ in range(min(_DELIVER_PER_ITERATION, len(deliveries))):
            stream = deliveries.popleft()
            if not stream.future.done():
                stream.future.set_result((stream.status, stream.headers, bytes(stream.body)))
        if deliveries:
            self.loop.call_soon(self._deliver)

    def _finish(self, stream_id: int, exc: TransportError) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None:
            self._drop(stream, reset=False)
            if not stream.future.done():
                stream.future.set_exception(exc)

    def _drop(self, stream: _Stream, reset: bool) -> None:
        del self.streams[stream.stream_id]
        self.blocked.pop(stream.stream_id, None)
        if stream.timer is not None:
            stream.timer.cancel()
        if reset:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.h2.reset_stream(stream.stream_id, _CANCEL)
        if self.waiters:
            self._wake()
        if not self.usable and not self.streams and self.transport is not None:
            self.close()  # a retired connection whose last stream is done

    def _expire(self, stream: _Stream) -> None:
        if self.streams.get(stream.stream_id) is not stream:
            return
        self._drop(stream, reset=True)
        self._probe("no answer to PING after a timeout")
        self.flush()
        if not stream.future.done():
            stream.future.set_exception(TransportTimeout("no response in time"))

    def _probe(self, reason: str) -> None:
        """PING the server (unless a PING is out already); abort with ``reason`` when no
        ACK comes within ``connect_timeout_s``. The caller flushes."""
        if self.ping_timer is None and self.transport is not None and self.usable:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.h2.ping(_PING_PAYLOAD)
                self.ping_timer = self.loop.call_later(
                    self.owner.connect_timeout_s, self.abort, reason
                )

    def _send_pending(self, stream: _Stream) -> None:
        conn, data, stream_id = self.h2, stream.pending, stream.stream_id
        try:
            window = conn.local_flow_control_window(stream_id)
            frame = conn.max_outbound_frame_size
            while data and window > 0:
                size = min(window, frame, len(data))
                conn.send_data(stream_id, data[:size], end_stream=size == len(data))
                data, window = data[size:], window - size
        except (h2.exceptions.StreamClosedError, h2.exceptions.FlowControlError):
            data = b""
        stream.pending = data
        if data:
            self.blocked[stream_id] = stream
        else:
            self.blocked.pop(stream_id, None)

    def _window_updated(self, stream_id: int | None) -> None:
        if stream_id:
            stream = self.blocked.get(stream_id)
            if stream is not None:
                self._send_pending(stream)
        else:
            self._resume_blocked()

    def _resume_blocked(self) -> None:
        for stream in list(self.blocked.values()):
            self._send_pending(stream)

    def _wake(self) -> None:
        while self.waiters and len(self.streams) + self.granted < self.max_streams:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                self.granted += 1

    def _release_waiters(self) -> None:
        """The connection takes no new streams: queued requests go and find another."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(False)

    def _fail_all(self, reason: str) -> None:
        for stream in list(self.streams.values()):
            self._finish(stream.stream_id, ConnectionLost(reason))
        self._release_waiters()


def _granted(waiter: asyncio.Future[bool]) -> bool:
    """Resolved with True (a slot was handed to it), not cancelled or timed out."""
    if not waiter.done() or waiter.cancelled() or waiter.exception() is not None:
        return False
    return waiter.result()


def _expire_waiter(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_exception(TransportTimeout("no free HTTP/2 stream in time"))


class H2Transport:
    """HTTP/2 over TLS to one origin (``https://host[:port]``), one connection at a time.

    ``ssl_context`` gets ALPN ``h2`` set on it. Connecting (TCP, TLS, the server's
    SETTINGS) is bounded by ``connect_timeout_s``; after that, waiting for a free
    stream plus the response by the request's ``timeout_s``.
    """

    def __init__(
        self, base_url: str, ssl_context: ssl.SSLContext, *, connect_timeout_s: float = 10.0
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"H2Transport needs an https:// origin, got {base_url!r}")
        self.host, self.port = parts.hostname, parts.port or 443
        self.authority = parts.netloc.rpartition("@")[2].encode("ascii")
        ssl_context.set_alpn_protocols(["h2"])
        self.ssl_context = ssl_context
        self.connect_timeout_s = connect_timeout_s
        self._conn: _Connection | None = None
        self._connecting: asyncio.Task[_Connection] | None = None
        self._all: set[_Connection] = set()  # every connection not yet closed (for aclose)
        self._generation = 0  # bumped by aclose(): a connect begun before it is dropped

    async def request(
        self,
        method: bytes,
        path: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeout_s: float,
    ) -> Response:
        """(status, lower-cased headers, body); :class:`TransportError` when none came.

        ``headers``: lower-case names without pseudo or connection-specific headers,
        values without CR, LF, NUL or surrounding whitespace; else ``ValueError``
        (nothing is sent). ``authorization`` is sent never-indexed.
        """
        if not _PATH.fullmatch(path) or not _NAME.fullmatch(method.lower()):
            raise ValueError(f"invalid request line {method!r} {path!r}")
        request_headers: list[tuple[bytes, bytes]] = [
            (b":method", method),
            (b":scheme", b"https"),
            (b":authority", self.authority),
            hpack.NeverIndexedHeaderTuple(b":path", path),  # one per device: not shared
        ]
        for name, value in headers:
            if name in _FORBIDDEN or not _NAME.fullmatch(name) or _BAD_VALUE.search(value):
                raise ValueError(f"invalid request header {name!r}: {value!r}")
            if name in _NEVER_INDEXED:
                request_headers.append(hpack.NeverIndexedHeaderTuple(name, value))
            else:
                request_headers.append((name, value))
        if body:
            length = str(len(body)).encode()
            request_headers.append(hpack.NeverIndexedHeaderTuple(b"content-length", length))
        deadline = -1.0
        granted = False
        while True:
            conn = self._conn
            if conn is None or not conn.usable:
                granted = False
                conn = await self._connect()
            if deadline < 0:
                deadline = conn.loop.time() + timeout_s
            if not conn.usable:  # lost again before this request got to it
                if conn.loop.time() >= deadline:
                    raise ConnectionLost(conn.reason)
                continue
            if granted or conn.has_slot():
                try:
                    stream = conn.open_stream(request_headers, body, deadline)
                    break
                except h2.exceptions.NoAvailableStreamIDError:
                    conn.retire()  # stream ids used up: a new connection for this one
                except h2.exceptions.TooManyStreamsError:
                    pass  # the server lowered its limit under us: queue
                except h2.exceptions.ProtocolError as exc:
                    conn.abort(f"HTTP/2 protocol error: {exc!r}")
                    raise ConnectionLost(conn.reason) from None
            granted = await conn.wait_slot(deadline)
        try:
            return await stream.future
        except asyncio.CancelledError:
            conn.cancel(stream)
            raise

    async def aclose(self) -> None:
        """Close the connection(s); requests in flight fail with :class:`ConnectionLost`.

        Like httpcore's pool, the transport stays usable: a later request reconnects.
        """
        self._generation += 1
        conns, self._conn = list(self._all), None
        for conn in conns:
            conn.reason = "transport closed"
            conn._fail_all(conn.reason)
            conn.close()
        waiting = [conn.closed for conn in conns if not conn.closed.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=1.0)
            for conn in conns:
                if not conn.closed.done() and conn.transport is not None:
                    conn.transport.abort()

    async def _connect(self) -> _Connection:
        task = self._connecting
        if task is None:
            task = self._connecting = asyncio.get_running_loop().create_task(self._open())
            task.add_done_callback(_retrieve)
        try:
            return await asyncio.shield(task)
        except TransportError as exc:  # one per waiter: a shared instance grows tracebacks
            raise type(exc)(str(exc)) from None

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        conn, generation = _Connection(self, loop), self._generation
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                await loop.create_connection(
                    lambda: conn,
                    self.host,
                    self.port,
                    ssl=self.ssl_context,
                    server_hostname=self.host,
                )
                self._all.add(conn)
                await conn.ready  # the server's SETTINGS: now its stream limit is known
                if not conn.usable:  # lost in the same loop iteration as its SETTINGS
                    raise ConnectionLost(conn.reason)
        except TimeoutError:
            conn.abort("connect timed out")
            raise TransportTimeout(
                f"connect to {self.host}:{self.port} took over {self.connect_timeout_s} s"
            ) from None
        except OSError as exc:  # refused, unreachable, TLS/certificate errors
            conn.abort(str(exc))
            raise TransportError(f"connect to {self.host}:{self.port} failed: {exc}") from None
        except BaseException:
            conn.abort("connect abandoned")
            raise
        finally:
            self._connecting = None
        if generation != self._generation:
            conn.close()
            raise ConnectionLost("transport closed while connecting")
        self._conn = conn
        return conn

    def _forget(self, conn: _Connection) -> None:
        """``conn`` takes no new streams (lost, GOAWAY, retired)."""
        if self._conn is conn:
            self._conn = None
        if conn.transport is None:
            self._all.discard(conn)


def _retrieve(task: asyncio.Task[_Connection]) -> None:
    """Mark a connect failure as seen: every waiter may have been cancelled."""
    if not task.cancelled():
        task.exception()
