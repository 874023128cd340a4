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


def api_settings(base: Settings, state_dir: object, **updates: object) -> Settings:
    """Settings of an API beside a harness's worker: its state dir (so both use the vault
    key the worker generated there) and generated keys allowed, as the harness does."""
    return base.model_copy(update={"state_dir": state_dir, "allow_generated_keys": True, **updates})


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


async def create_account(
    services: ApiServices,
    username: str,
    roles: set[str],
    practices: set[str] = frozenset(),  # type: ignore[assignment]
    *,
    clinician_id: str | None = None,
    desks: set[str] = frozenset(),  # type: ignore[assignment]
    totp: bool = False,
    password: str = "correct horse battery staple",
) -> tuple[str, str | None]:
    """A new account (unique username); returns (its username, its TOTP secret or None)."""
    import uuid
    from datetime import UTC, datetime

    from engine.api.accounts import Account, Role
    from engine.api.security import hash_password, new_totp_secret

    secret = new_totp_secret() if totp else None
    name = f"{username}-{uuid.uuid4().hex[:6]}"
    await services.accounts.create(
        Account(
            account_id="",
            username=name,
            roles=frozenset(Role(r) for r in roles),
            practices=frozenset(practices),
            clinician_id=clinician_id,
            desks=frozenset(desks),
            password_hash=hash_password(password),
            totp_secret=secret,
            created_at=datetime.now(UTC),
        )
    )
    return name, secret


@asynccontextmanager
async def serving_api(settings: Settings) -> AsyncIterator[RunningApi]:
    """The app behind a real uvicorn server on a free port (plain HTTP), for what the
    ASGI transport cannot do: it buffers whole responses, so no live event stream."""
    import uvicorn

    from tests.integration.harness import free_port

    port = free_port()
    services = build_api_services(settings)
    app = create_api(settings, services)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            for _ in range(300):
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the API did not become ready")
            yield RunningApi(app, client, services)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
