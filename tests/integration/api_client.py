"""Run the API in-process on the real Kafka and Redis of a harness, with an HTTP client.

The app runs its lifespan (Kafka producer, practice cache) and is called through
httpx's ASGI transport; tests of the real server (uvicorn, TLS) start ``nightline api``
as a process instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from engine.api.app import create_api
from engine.api.services import ApiServices, build_api_services
from engine.settings import Settings


@dataclass
class RunningApi:
    app: FastAPI
    client: httpx.AsyncClient
    services: ApiServices

    async def integration_key(self, *practices: str, integration: str = "test-pbx") -> str:
        issued, _ = await self.services.api_keys.issue(
            integration, frozenset(practices), self.services.clock.now()
        )
        return issued.token


@asynccontextmanager
async def running_api(settings: Settings, *, wait_ready: bool = True) -> AsyncIterator[RunningApi]:
    services = build_api_services(settings)
    app = create_api(settings, services)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://api.test") as client:
            if wait_ready:
                for _ in range(300):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError((await client.get("/readyz")).text)
            yield RunningApi(app, client, services)
