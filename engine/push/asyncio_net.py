"""An httpcore network backend on plain asyncio streams, for the APNs hot path.

httpcore's default backend on asyncio goes through anyio, whose TLS stream wraps
every read and write in Python-level checkpoints; at a thousand pushes a second
that is a sixth of the CPU per push (``bench/bench_push.py``). httpcore lets a
client plug in its own backend (``network_backend=``), and asyncio's own
streams (``open_connection``, ``StreamWriter.start_tls``, Python 3.11+) do the
job with fewer hops. HTTP/2 itself stays with httpcore and h2.

Errors are mapped to httpcore's exception types, so the client's retry policy
sees timeouts, resets and refused connections exactly as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import typing
from collections.abc import Iterable

import httpcore

__all__ = ["AsyncioBackend"]


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout("read timed out") from None
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout("write timed out") from None
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await self._writer.wait_closed()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError:
            raise httpcore.ConnectTimeout("TLS handshake timed out") from None
        except OSError as exc:  # ssl.SSLError included: bad certificate, no ALPN...
            raise httpcore.ConnectError(str(exc)) from exc
        return self

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info in ("client_addr", "server_addr"):
            return self._writer.get_extra_info("sockname" if info == "client_addr" else "peername")
        if info == "is_readable":  # httpcore: an idle connection the server has closed
            return self._reader.at_eof() or self._writer.is_closing()
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """TCP (then TLS via ``start_tls``) connections as asyncio streams."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return _Stream(reader, writer)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.UnsupportedProtocol("unix sockets are not used for push providers")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
