"""The API's body limit told by Content-Length: an absurd length (more digits than
``int`` reads) is 413 like any body too large, never an error."""

from __future__ import annotations

from typing import Any

import pytest

from engine.api.middleware import BodyLimit


async def _status(content_length: bytes) -> int:
    reached: list[bool] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(True)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/",
             "headers": [(b"content-length", content_length)]}  # fmt: skip
    await BodyLimit(app, 1000)(scope, receive, send)
    return 200 if reached else int(sent[0]["status"])


@pytest.mark.parametrize("length", [b"9" * 5000, b"9" * 19, b"1001", b"\xc2\xb2", b"-1"])
async def test_a_length_too_large_or_unreadable_is_413(length: bytes) -> None:
    assert await _status(length) == 413


async def test_a_length_within_the_limit_reaches_the_app() -> None:
    assert await _status(b"1000") == 200
