"""ASGI middleware of the API: security headers, a request body limit, and metrics.

Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``: it wraps ``send`` and
``receive`` only, so a streamed response (the desk's Server-Sent Events) is not buffered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from engine.api.problems import PROBLEM_JSON, Problem
from engine.failures import describe_failure

__all__ = [
    "SECURITY_HEADERS",
    "ApiMetrics",
    "BodyLimit",
    "QuietErrors",
    "RequestMetrics",
    "SecurityHeaders",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS: dict[str, str] = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` and ``Cache-Control: no-store`` to every response
    (responses carry PHI; no cache on the way may keep them) unless a route set its own."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._headers = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [h for h in self._headers if h[0] not in present]
                if _NO_STORE[0] not in present:
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """413 for a body over ``limit`` bytes, told by Content-Length or while reading a
    chunked body (which is then read whole before the route sees it)."""

    def __init__(self, app: App, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None:
            if not length.isdigit() or len(length) > 18 or int(length) > self.limit:
                await _too_large(send, self.limit)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await _too_large(send, self.limit)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int) -> None:
    problem = Problem(
        title="Request too large",
        status=413,
        detail=f"The request body is over the limit of {limit} bytes.",
    )
    body = problem.model_dump_json(exclude_none=True).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ApiMetrics:
    """The API's Prometheus metrics, in their own registry. Labels are route templates
    (``/v1/dispatches/{dispatch_id}``), methods and status codes: never ids."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nightline_api_requests",
            "API requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nightline_api_request_seconds",
            "API request latency by route template and method (to the response's start).",
            ["route", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.published = Counter(
            "nightline_api_published",
            "Records the API published, by topic and outcome (ok, unavailable).",
            ["topic", "outcome"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "nightline_api_auth_failures",
            "Requests refused for their credentials, by kind (api_key, token, password).",
            ["kind"],
            registry=self.registry,
        )


class RequestMetrics:
    """Counts each request under its route template once routing has matched it."""

    def __init__(self, app: App, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                route = _template(scope)
                self.metrics.latency.labels(route, scope["method"]).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self.metrics.requests.labels(_template(scope), scope["method"], str(status)).inc()


def _template(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


class QuietErrors:
    """The outermost layer in production: Starlette answers an unexpected error with its
    500 problem and then raises it again, and the server would log the traceback, whose
    frames can hold request values (PHI). Here it ends as one line naming its type."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            route = scope.get("route")
            logging.getLogger("engine.api").error(
                "unexpected error on %s: %s", getattr(route, "path", "unmatched"),
                describe_failure(exc),
            )  # fmt: skip
