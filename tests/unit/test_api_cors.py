"""CORS is off unless origins are configured; then only those origins are allowed, with
the headers the API reads (preflights answered without touching any service)."""

from __future__ import annotations

import httpx

from engine.api.app import create_api
from engine.api.services import build_api_services
from engine.settings import load_settings


async def _preflight(origins: str, origin: str) -> httpx.Response:
    settings = load_settings(api_cors_origins=origins)
    app = create_api(settings, build_api_services(settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.options(
            "/v1/intake",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-api-key, content-type",
            },
        )


async def test_cors_is_off_by_default() -> None:
    answer = await _preflight("", "https://portal.example.org")
    assert "access-control-allow-origin" not in answer.headers


async def test_a_configured_origin_is_allowed_and_others_are_not() -> None:
    allowed = await _preflight("https://portal.example.org", "https://portal.example.org")
    assert allowed.headers["access-control-allow-origin"] == "https://portal.example.org"
    assert "x-api-key" in allowed.headers["access-control-allow-headers"].lower()
    other = await _preflight("https://portal.example.org", "https://evil.example.com")
    assert other.headers.get("access-control-allow-origin") != "https://evil.example.com"
