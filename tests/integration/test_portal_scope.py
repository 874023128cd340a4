"""Every portal page of a practice, tried by people of another practice (its
administrator, a clinician, an operator) signed in by the portal's own cookie: each
must answer 403 or 404 (or 422 for a form's missing fields, checked before anything is
looked up), the same for a real practice as for a made-up one, and never show the other
practice. Unsafe requests carry the caller's valid CSRF token, so the
scope check itself is what refuses them. A page added later is tried too."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pyotp
import pytest
from fastapi.routing import APIRoute

from engine.practice_files import load_practice_file
from tests.integration.api_client import RunningApi, api_settings, create_account, running_api
from tests.integration.harness import Harness
from tests.integration.test_portal_auth import MAPLE

PASSWORD = "correct horse battery staple"
_SAMPLE = {"day": "2026-12-24", "urgency": "urgent", "role": "primary"}
"""Valid values for typed path parameters (others get an id that exists nowhere)."""


@pytest.fixture()
async def api(harness: Harness) -> AsyncIterator[RunningApi]:
    for practice_id in ("scope-a", "scope-b"):
        practice = load_practice_file(MAPLE).practice.model_copy(
            update={"practice_id": practice_id}
        )
        harness.load_practice(practice, [])
    async with running_api(api_settings(harness.settings, harness.log_dir)) as running:
        yield running


async def _browser(api: RunningApi, roles: set[str], **extra: Any) -> tuple[httpx.AsyncClient, str]:
    """A client signed in to the portal as a new person of practice A, and its CSRF token."""
    admin = bool(roles & {"practice_admin", "service_admin"})
    name, secret = await create_account(api.services, "p", roles, {"scope-a"}, totp=admin, **extra)
    transport = httpx.ASGITransport(app=api.app)
    client = httpx.AsyncClient(transport=transport, base_url="https://api.test")
    answer = await client.post("/portal/sign-in", data={"username": name, "password": PASSWORD})
    if secret:
        pending = re.search(r'name="pending" value="([^"]+)"', answer.text)
        assert pending, answer.text
        answer = await client.post(
            "/portal/sign-in/code",
            data={"pending": pending[1], "code": pyotp.TOTP(secret).now()},
        )
    assert answer.status_code == 303, answer.text
    home = await client.get("/portal/", follow_redirects=True)
    csrf = re.search(r'data-csrf="([0-9a-f]+)"', home.text)
    assert csrf, home.text
    return client, csrf[1]


def _all_routes(api: RunningApi) -> list[object]:
    """Every route of the app, including those of included routers (which FastAPI keeps
    as one entry each)."""
    found: list[object] = []
    for entry in api.app.routes:
        inner = getattr(entry, "original_router", None)
        found += list(inner.routes) if inner is not None else [entry]
    return found


async def test_no_portal_page_reaches_another_practice(api: RunningApi) -> None:
    people = {
        "admin of A": await _browser(api, {"practice_admin", "billing"}),
        "clinician of A": await _browser(api, {"clinician"}, clinician_id="dr-okafor"),
        "operator of A": await _browser(api, {"operator"}, desks={"maple-desk"}),
    }
    everything = _all_routes(api)
    routes = [
        r for r in everything
        if isinstance(r, APIRoute) and r.path.startswith("/portal/") and "{practice_id}" in r.path
    ]  # fmt: skip
    assert len(routes) >= 1
    tried = 0
    for route in routes:
        for method in sorted(route.methods):
            for who, (client, csrf) in people.items():
                answers = []
                for practice in ("scope-b", "made-up-practice"):
                    path = route.path.replace("{practice_id}", practice)
                    path = re.sub(r"\{([a-z_]+)\}", lambda m: _SAMPLE.get(m[1], "x-1"), path)
                    data = {"csrf_token": csrf} if method != "GET" else None
                    answer = await client.request(method, path, data=data)
                    tried += 1
                    where = f"{who}: {method} {path}"
                    # 422: a form's own fields missing, answered before any lookup, the
                    # same for every practice (compared below)
                    assert answer.status_code in (403, 404, 422), f"{where} -> {answer.status_code}"
                    assert "scope-b" not in answer.text.replace(path, ""), where
                    answers.append(answer.status_code)
                assert answers[0] == answers[1], f"{who}: {method} {route.path} tells them apart"
    assert tried >= 6
