"""A local fake of the APNs provider API: HTTP/2 over TLS, for tests and benchmarks.

Built directly on ``h2`` over ``asyncio`` (no ASGI server): ``h2`` already comes
with ``httpx[http2]``, so there is no new dependency; the fake owns the
transport, so ``reset`` really drops the TCP connection (an ASGI app can only
fail a stream); and a bare protocol keeps the fake fast enough that a benchmark
measures the client, not the server.

It checks what APNs checks: ES256 provider token (signature against the
configured key, ``kid``, ``iss``, ``iat`` under an hour old), ``apns-topic``,
``apns-push-type``, ``apns-priority``, ``POST /3/device/<hex token>``, a JSON
payload of at most 4,096 bytes. Accepted pushes are kept in memory. Every response
to a push carries an ``apns-id`` header, errors included, as on APNs: the request's
own ``apns-id`` echoed, else a new UUID.

Control endpoints (no token needed)::

    GET  /_fake/received   -> {"received": [{"token", "payload", "headers", "received_at"}],
                               "attempts", "next"}
                              (the shape of :mod:`engine.standins.fake_received`; ``?since=N``
                              answers the records from index N on)
    POST /_fake/reset      -> forget pushes and faults
    POST /_fake/faults     {"<device token>": {"status": 429, "reason": "TooManyRequests",
                            "retry_after": 1, "slow": 0.5, "reset": false, "goaway": false,
                            "times": 1}}
                            (a ``null`` fault clears one; ``times`` absent = every request)

``reset`` drops the TCP connection; ``goaway`` sends GOAWAY with a ``last_stream_id``
below the request's stream (so it was not processed), then closes the connection.
``FakeApns(..., max_concurrent_streams=N)`` sets the advertised stream limit (1000);
``connections_accepted``, ``peak_streams`` (most streams open at once on one
connection) and ``streams_reset`` (RST_STREAMs from clients) count for tests.

In-process: ``async with FakeApns(key, key_id, team_id, cert_dir) as fake`` gives
``fake.url`` and ``fake.ca_file``. As a process: ``nightline fake-apns --port P
--cert-dir D --key-file K.p8 --key-id K --team-id T`` (:func:`fake_apns_command`;
the key file is created when missing); it prints ``fake-apns listening on URL
ca=PATH`` once ready. :func:`spawn_fake_apns` starts that process and reads the
line (for benchmarks and tests). TLS files come from :func:`write_tls_files`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import click
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from engine.push.apns_token import load_p8_key
from engine.stack import local_tls
from engine.standins.fake_received import parse_since, received_answer, received_record

__all__ = ["FakeApns", "fake_apns_command", "spawn_fake_apns", "write_tls_files"]

_READY = "fake-apns listening on "  # then "URL ca=PATH": printed once the fake serves
_DEVICE_PATH = re.compile(r"^/3/device/([0-9a-fA-F]{16,200})$")
Response = tuple[int, dict[str, str], bytes]


def write_tls_files(cert_dir: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key) in ``cert_dir``: a CA and a localhost cert it signed."""
    return local_tls.write_tls_files(cert_dir, "Nightline fake APNs CA")


class FakeApns:
    """The fake server: in memory state, checks, and an asyncio TLS listener."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey,
        key_id: str,
        team_id: str,
        cert_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        topic: str | None = None,
        max_concurrent_streams: int = 1000,
    ) -> None:
        self.max_concurrent_streams = max_concurrent_streams
        self.connections_accepted = 0
        self.peak_streams = 0
        self.streams_reset = 0
        self.public_key = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
        self.key_id, self.team_id, self.topic = key_id, team_id, topic
        self.host, self.port = host, port
        self.ca_file, self._cert, self._cert_key = write_tls_files(cert_dir)
        self.received: list[dict[str, Any]] = []
        self.attempts: dict[str, int] = {}  # device token -> push requests seen
        self.faults: dict[str, dict[str, Any]] = {}
        self._verified: dict[str, int] = {}  # token -> iat, so each token is verified once
        self._server: asyncio.Server | None = None
        self.connections: set[_H2Protocol] = set()

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    async def start(self) -> FakeApns:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self._cert, self._cert_key)
        ctx.set_alpn_protocols(["h2"])
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _H2Protocol(self), self.host, self.port, ssl=ctx
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self.connections):
                conn.drop()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeApns:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def take_fault(self, device_token: str) -> dict[str, Any] | None:
        fault = self.faults.get(device_token)
        if fault is not None and fault.get("times") is not None:
            fault["times"] -= 1
            if fault["times"] <= 0:
                del self.faults[device_token]
        return fault

    def control(self, method: str, target: str, body: bytes) -> Response:
        path, _, query = target.partition("?")
        if (method, path) == ("GET", "/_fake/received"):
            try:
                since = parse_since(query)
            except ValueError as exc:
                return _json(400, {"reason": str(exc)})
            return _json(200, received_answer(self.received, self.attempts, since=since))
        if (method, path) == ("POST", "/_fake/reset"):
            self.received.clear()
            self.attempts.clear()
            self.faults.clear()
            return _json(200, {"ok": True})
        if (method, path) == ("POST", "/_fake/faults"):
            for token, fault in json.loads(body or b"{}").items():
                if fault is None:
                    self.faults.pop(token, None)
                else:
                    self.faults[token] = dict(fault)
            return _json(200, self.faults)
        return _json(404, {"reason": "BadPath"})

    def push(self, device_token: str, h: dict[str, str], body: bytes, fault: Any) -> Response:
        """Check one push the way APNs would; record it when accepted."""
        if fault and fault.get("status"):
            extra = {"retry-after": str(fault["retry_after"])} if "retry_after" in fault else {}
            return _error(int(fault["status"]), str(fault.get("reason", "Fault")), extra)
        auth = self._check_token(h.get("authorization", ""))
        if auth:
            return _error(403, auth)
        if not h.get("apns-topic"):
            return _error(400, "MissingTopic")
        if self.topic is not None and h["apns-topic"] != self.topic:
            return _error(400, "TopicDisallowed")
        if h.get("apns-push-type") not in ("alert", "background", "voip"):
            return _error(400, "InvalidPushType")
        if h.get("apns-priority") not in ("5", "10"):
            return _error(400, "BadPriority")
        if len(h.get("apns-collapse-id", "").encode()) > 64:
            return _error(400, "BadCollapseId")
        if len(body) > 4096:
            return _error(413, "PayloadTooLarge")
        try:
            payload = json.loads(body)
        except ValueError:
            return _error(400, "PayloadEmpty" if not body else "BadPayload")
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            return _error(400, "BadPayload")
        self.received.append(received_record(device_token, payload, h, received_at=time.time()))
        return 200, {}, b""

    def _check_token(self, authorization: str) -> str:
        token = authorization.removeprefix("bearer ").strip()
        if not token:
            return "MissingProviderToken"
        iat = self._verified.get(token)
        if iat is None:
            try:
                if jwt.get_unverified_header(token).get("kid") != self.key_id:
                    return "InvalidProviderToken"
                claims = jwt.decode(token, self.public_key, algorithms=["ES256"], leeway=60)
                iat = int(claims["iat"])
            except (jwt.PyJWTError, KeyError, TypeError, ValueError):
                return "InvalidProviderToken"
            if claims.get("iss") != self.team_id:
                return "InvalidProviderToken"
            self._verified[token] = iat
        return "ExpiredProviderToken" if time.time() - iat > 3600 else ""


def _json(status: int, obj: Any) -> Response:
    return status, {"content-type": "application/json"}, json.dumps(obj).encode()


def _error(status: int, reason: str, extra: dict[str, str] | None = None) -> Response:
    code, headers, body = _json(status, {"reason": reason})
    return code, {**headers, **(extra or {})}, body


class _H2Protocol(asyncio.Protocol):
    """One client connection: h2 events in, responses out (with flow control)."""

    def __init__(self, fake: FakeApns) -> None:
        self.fake = fake
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.transport: asyncio.Transport | None = None
        self.requests: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.pending: dict[int, bytes] = {}
        self.active: set[int] = set()  # streams not yet answered
        self.going_away = False  # GOAWAY sent: later streams are not processed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.fake.connections.add(self)
        self.fake.connections_accepted += 1
        self.conn.initiate_connection()
        limit = self.fake.max_concurrent_streams
        self.conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: limit})
        transport.write(self.conn.data_to_send())

    def connection_lost(self, exc: Exception | None) -> None:
        self.fake.connections.discard(self)
        self.transport = None

    def drop(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.drop()
            return
        for event in events:
            if self.going_away:
                break
            if isinstance(event, h2.events.RequestReceived):
                headers = {str(k): str(v) for k, v in event.headers or []}
                self.requests[event.stream_id or 0] = (headers, bytearray())
                self.active.add(event.stream_id or 0)
                self.fake.peak_streams = max(self.fake.peak_streams, len(self.active))
            elif isinstance(event, h2.events.DataReceived) and event.stream_id:
                self.requests[event.stream_id][1].extend(event.data or b"")
                n = event.flow_controlled_length or 0
                self.conn.acknowledge_received_data(n, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id:
                self.request_done(event.stream_id, *self.requests.pop(event.stream_id))
            elif isinstance(event, h2.events.StreamReset) and event.stream_id:
                self.requests.pop(event.stream_id, None)
                self.pending.pop(event.stream_id, None)
                self.active.discard(event.stream_id)
                self.fake.streams_reset += 1
            elif isinstance(event, h2.events.WindowUpdated):
                for stream_id in list(self.pending):
                    self.flush(stream_id)
        self.write()

    def request_done(self, stream_id: int, headers: dict[str, str], body: bytearray) -> None:
        method, path = headers.get(":method", ""), headers.get(":path", "")
        if path.startswith("/_fake/"):
            self.respond(stream_id, self.fake.control(method, path, bytes(body)))
            return
        apns_id = {"apns-id": headers.get("apns-id") or str(uuid.uuid4()).upper()}
        match = _DEVICE_PATH.match(path)
        if method != "POST" or match is None:
            reason = "MethodNotAllowed" if method != "POST" else "BadDeviceToken"
            status, fields, body_out = _error(405 if method != "POST" else 400, reason)
            self.respond(stream_id, (status, {**fields, **apns_id}, body_out))
            return
        token = match.group(1)
        self.fake.attempts[token] = self.fake.attempts.get(token, 0) + 1
        fault = self.fake.take_fault(token)
        if fault and fault.get("reset"):
            self.drop()
            return
        if fault and fault.get("goaway"):
            self.goaway(stream_id)
            return
        status, fields, body_out = self.fake.push(token, headers, bytes(body), fault)
        reply = (status, {**fields, **apns_id}, body_out)
        delay = float(fault.get("slow", 0)) if fault else 0.0
        if delay > 0:
            loop = asyncio.get_running_loop()
            loop.call_later(delay, self.respond, stream_id, reply, True)
        else:
            self.respond(stream_id, reply)

    def respond(self, stream_id: int, reply: Response, write: bool = False) -> None:
        if write:  # a delayed reply: nothing else will write it out
            self.respond(stream_id, reply)
            self.write()
            return
        self.active.discard(stream_id)
        status, headers, body = reply
        fields = [(":status", str(status)), ("content-length", str(len(body))), *headers.items()]
        try:
            self.conn.send_headers(stream_id, fields, end_stream=not body)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            return  # the client gave up on this stream (timeout) or the connection is gone
        if body:
            self.pending[stream_id] = body
            self.flush(stream_id)

    def flush(self, stream_id: int) -> None:
        data = self.pending.pop(stream_id)
        try:
            window = self.conn.local_flow_control_window(stream_id)
            while data and window > 0:
                chunk = data[: min(window, self.conn.max_outbound_frame_size)]
                self.conn.send_data(stream_id, chunk, end_stream=len(chunk) == len(data))
                data, window = data[len(chunk) :], window - len(chunk)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            return
        if data:
            self.pending[stream_id] = data  # wait for a WINDOW_UPDATE

    def goaway(self, stream_id: int) -> None:
        """GOAWAY saying streams from ``stream_id`` on were not processed, then close."""
        reason = json.dumps({"reason": "Shutdown"}).encode()
        last = max(0, stream_id - 2)
        self.going_away = True
        self.conn.close_connection(additional_data=reason, last_stream_id=last)
        self.write()
        if self.transport is not None:
            self.transport.close()

    def write(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.conn.data_to_send())


async def _serve(fake: FakeApns) -> None:
    await fake.start()
    click.echo(f"{_READY}{fake.url} ca={fake.ca_file}", nl=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


async def spawn_fake_apns(
    cert_dir: Path,
    key_file: Path,
    key_id: str,
    team_id: str,
    *,
    topic: str | None = None,
    port: int = 0,
    ready_timeout_s: float = 30.0,
) -> tuple[asyncio.subprocess.Process, str, str]:
    """Run the fake as a process (``python -m engine.standins.fake_apns``): (process, url, CA path).

    Returns once the fake prints that it is listening; the caller terminates the process.
    ``key_file`` is created when missing. When no ready line comes within
    ``ready_timeout_s`` (``TimeoutError``) or the process exits first (``RuntimeError``),
    the process is killed.
    """
    args = [
        "-m", "engine.standins.fake_apns", "--port", str(port), "--cert-dir", str(cert_dir),
        "--key-file", str(key_file), "--key-id", key_id, "--team-id", team_id,
    ]  # fmt: skip
    if topic is not None:
        args += ["--topic", topic]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(ready_timeout_s):
                line = (await proc.stdout.readline()).decode()
        except TimeoutError:
            raise TimeoutError(f"fake-apns not listening after {ready_timeout_s} s") from None
        url, found, ca = line.removeprefix(_READY).strip().partition(" ca=")
        if not line.startswith(_READY) or not found:
            raise RuntimeError(f"fake-apns did not start (it printed {line!r})")
    except BaseException:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        raise
    return proc, url, ca


@click.command("fake-apns")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port")
@click.option("--cert-dir", type=click.Path(path_type=Path), required=True)
@click.option("--key-file", type=click.Path(path_type=Path), required=True, help=".p8 key")
@click.option("--key-id", required=True)
@click.option("--team-id", required=True)
@click.option("--topic", default=None, help="only accept this apns-topic")
def fake_apns_command(
    host: str, port: int, cert_dir: Path, key_file: Path, key_id: str, team_id: str,
    topic: str | None,
) -> None:  # fmt: skip
    """Run a fake APNs (HTTP/2 over TLS) for tests and benchmarks."""
    if not key_file.exists():
        new = ec.generate_private_key(ec.SECP256R1())
        enc = serialization.NoEncryption()
        pem = new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
        key_file.write_bytes(pem)
    fake = FakeApns(load_p8_key(key_file), key_id, team_id, cert_dir, host=host, port=port,
                    topic=topic)  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(fake))


if __name__ == "__main__":
    fake_apns_command()
