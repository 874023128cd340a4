"""A local stand-in for Google's OAuth token endpoint and FCM HTTP v1 ``messages:send``.

It checks what the real services would: the JWT assertion (RS256 signature against
the service account's public key, ``iss``/``aud``/``scope``/``exp``), the bearer token
it issued, and the message (``token``, string-only ``data``, no ``notification``,
``android.priority``/``ttl``, 4,096-byte data). Accepted messages are listed at
``GET /_fake/received[?since=N]`` in the shape of :mod:`engine.standins.fake_received`
(each record also has ``android``; the answer also has ``token_grants``); ``POST /_fake/reset``
clears state; ``POST /_fake/faults``
with ``{"token", "mode", "times"?, "retry_after"?, "delay_s"?}`` makes sends to a
registration token fail (modes in :data:`FAULT_MODES`; mode ``none`` clears the
token's fault); ``POST /_fake/revoke-tokens``
forces a 401. In-process: :func:`start_fake_fcm`; as a process: ``nightline fake-fcm``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from engine.push.fcm import MAX_DATA_BYTES, data_size
from engine.push.fcm_auth import FCM_SCOPE, JWT_BEARER_GRANT, ServiceAccount
from engine.standins.fake_received import parse_since, received_answer, received_record

__all__ = [
    "FAULT_MODES",
    "FakeFcm",
    "fake_fcm_command",
    "start_fake_fcm",
    "write_test_service_account",
]

_ERRORS = {  # fault mode -> (HTTP status, google.rpc status)
    "UNREGISTERED": (404, "NOT_FOUND"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED"),
    "UNAVAILABLE": (503, "UNAVAILABLE"),
    "INTERNAL": (500, "INTERNAL"),
}
FAULT_MODES = frozenset(_ERRORS) | {"slow", "reset"}
_TTL = re.compile(r"^\d+(\.\d{1,9})?s$")


def write_test_service_account(path: str | Path, token_uri: str, **kw: Any) -> ServiceAccount:
    """Write a new :meth:`ServiceAccount.generate` key file (tests and demos)."""
    account = ServiceAccount.generate(token_uri, **kw)
    account.save(path)
    return account


def _fcm_error(
    status: int,
    rpc_status: str,
    message: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
    if code:
        error["details"] = [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
        ]
    return web.json_response({"error": error}, status=status, headers=headers)


def _bad_message(body: Any) -> str | None:
    """Why the ``messages:send`` body is invalid, or None."""
    msg = body.get("message") if isinstance(body, dict) else None
    if not isinstance(msg, dict):
        return "body must be {'message': {...}}"
    if "notification" in msg or "notification" in (msg.get("android") or {}):
        return "notification block present: messages must be data-only"
    if set(msg) - {"token", "data", "android"}:
        return f"unexpected message fields {sorted(set(msg) - {'token', 'data', 'android'})}"
    if not isinstance(msg.get("token"), str) or not msg["token"]:
        return "message.token must be a non-empty string"
    data = msg.get("data")
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return "message.data must map strings to strings"
    android = msg.get("android")
    if not isinstance(android, dict) or android.get("priority") not in ("HIGH", "NORMAL"):
        return "android.priority must be HIGH or NORMAL"
    if not isinstance(android.get("ttl"), str) or not _TTL.match(android["ttl"]):
        return "android.ttl must look like '60s'"
    if data_size(data) > MAX_DATA_BYTES:
        return f"data exceeds {MAX_DATA_BYTES} bytes"
    return None


@dataclass
class _Fault:
    mode: str
    times: int | None = None  # None: until reset
    retry_after: int | None = None
    delay_s: float = 2.0


class FakeFcm:
    """The fake's state and aiohttp application for one service account."""

    def __init__(self, account: ServiceAccount, *, token_ttl_s: int = 3600) -> None:
        self.account = account
        self.token_ttl_s = token_ttl_s
        key = serialization.load_pem_private_key(account.private_key.encode(), None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("service account private_key must be an RSA key")
        self._public_key = key.public_key()
        self.tokens: dict[str, float] = {}  # access token -> expiry (epoch s)
        self.token_grants = 0
        self.received: list[dict[str, Any]] = []
        self.attempts: dict[str, int] = {}  # registration token -> send requests seen
        self.faults: dict[str, _Fault] = {}
        self.app = web.Application()
        self.app.router.add_post("/token", self._token)
        self.app.router.add_post("/v1/projects/{project}/messages:send", self._send)
        self.app.router.add_get("/_fake/received", self._received)
        self.app.router.add_post("/_fake/{action}", self._control)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def set_fault(
        self,
        token: str,
        mode: str,
        *,
        times: int | None = None,
        retry_after: int | None = None,
        delay_s: float = 2.0,
    ) -> None:
        if mode == "none":  # the provider is well again for this token
            self.faults.pop(token, None)
            return
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}")
        self.faults[token] = _Fault(mode, times, retry_after, delay_s)

    def reset(self) -> None:
        self.received.clear()
        self.attempts.clear()
        self.faults.clear()
        self.token_grants = 0

    async def start(self, sock: socket.socket) -> str:
        """Serve on an already bound socket; returns the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        host, port = sock.getsockname()[:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != JWT_BEARER_GRANT:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            claims = jwt.decode(
                str(form.get("assertion", "")),
                self._public_key,
                algorithms=["RS256"],
                audience=self.account.token_uri,
                issuer=self.account.client_email,
                options={"require": ["iss", "aud", "iat", "exp", "scope"]},
                leeway=60,
            )
            if FCM_SCOPE not in str(claims["scope"]).split():
                raise jwt.InvalidTokenError("scope lacks firebase.messaging")
            if int(claims["exp"]) - int(claims["iat"]) > 3600:
                raise jwt.InvalidTokenError("assertion lives longer than an hour")
        except jwt.PyJWTError as exc:
            return web.json_response(
                {"error": "invalid_grant", "error_description": str(exc)}, status=400
            )
        token = f"fake-{secrets.token_urlsafe(24)}"
        self.tokens[token] = time.time() + self.token_ttl_s
        self.token_grants += 1
        return web.json_response(
            {"access_token": token, "expires_in": self.token_ttl_s, "token_type": "Bearer"}
        )

    async def _send(self, request: web.Request) -> web.StreamResponse:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.tokens.get(bearer, 0.0) < time.time():
            return _fcm_error(401, "UNAUTHENTICATED", "Request had invalid credentials.")
        if request.match_info["project"] != self.account.project_id:
            return _fcm_error(404, "NOT_FOUND", "Requested entity was not found.")
        try:
            body = await request.json()
        except ValueError:
            return _fcm_error(400, "INVALID_ARGUMENT", "Invalid JSON payload.")
        problem = _bad_message(body)
        if problem:
            return _fcm_error(400, "INVALID_ARGUMENT", problem, "INVALID_ARGUMENT")
        msg = body["message"]
        self.attempts[msg["token"]] = self.attempts.get(msg["token"], 0) + 1
        fault = self.faults.get(msg["token"])
        if fault is not None and fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                del self.faults[msg["token"]]
        if fault is not None and fault.mode == "reset" and request.transport is not None:
            request.transport.abort()
            return web.Response(status=204)
        if fault is not None and fault.mode == "slow":
            await asyncio.sleep(fault.delay_s)
            if request.transport is None or request.transport.is_closing():
                return web.Response(status=204)  # the client gave up: not delivered
        elif fault is not None:
            status, rpc = _ERRORS[fault.mode]
            ra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            return _fcm_error(status, rpc, f"fake fault {fault.mode}", fault.mode, ra)
        headers = dict(request.headers)
        self.received.append(
            received_record(
                msg["token"], msg["data"], headers, received_at=time.time(), android=msg["android"]
            )
        )
        name = f"projects/{self.account.project_id}/messages/{len(self.received)}"
        return web.json_response({"name": name})

    async def _received(self, request: web.Request) -> web.Response:
        try:
            since = parse_since(request.query_string)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        answer = received_answer(
            self.received, self.attempts, since=since, token_grants=self.token_grants
        )
        return web.json_response(answer)

    async def _control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action == "reset":
            self.reset()
        elif action == "revoke-tokens":
            self.tokens.clear()
        elif action == "faults":
            spec = await request.json()
            try:
                self.set_fault(
                    str(spec["token"]),
                    str(spec["mode"]),
                    times=spec.get("times"),
                    retry_after=spec.get("retry_after"),
                    delay_s=float(spec.get("delay_s", 2.0)),
                )
            except (KeyError, TypeError, ValueError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
        else:
            raise web.HTTPNotFound()
        return web.json_response({"ok": True})


async def start_fake_fcm(
    service_account_file: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token_ttl_s: int = 3600,
) -> FakeFcm:
    """Bind, load the service account (or write a new one pointing here), and serve."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    path = Path(service_account_file)
    if path.exists():
        account = ServiceAccount.from_file(path)
    else:
        account = write_test_service_account(path, f"http://{host}:{sock.getsockname()[1]}/token")
    fake = FakeFcm(account, token_ttl_s=token_ttl_s)
    await fake.start(sock)
    return fake


async def _serve(file: Path, host: str, port: int, token_ttl_s: int) -> None:
    fake = await start_fake_fcm(file, host=host, port=port, token_ttl_s=token_ttl_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    click.echo(f"fake-fcm listening on {fake.base_url} (service account {file})", err=False)
    await stop.wait()
    await fake.stop()


@click.command("fake-fcm")
@click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--service-account-file",
    type=click.Path(path_type=Path),
    required=True,
    help="Google-style key JSON; written with a new key if missing",
)
@click.option("--token-ttl", type=int, default=3600, show_default=True)
def fake_fcm_command(port: int, host: str, service_account_file: Path, token_ttl: int) -> None:
    """Run a fake FCM v1 + OAuth token server for tests and demos."""
    asyncio.run(_serve(service_account_file, host, port, token_ttl))


if __name__ == "__main__":
    fake_fcm_command()
