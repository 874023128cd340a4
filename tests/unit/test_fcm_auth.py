"""Service-account OAuth for FCM: the JWT assertion, caching, refresh, shared refresh."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from engine.push.fcm_auth import (
    FCM_SCOPE,
    JWT_BEARER_GRANT,
    AccessTokenProvider,
    ServiceAccount,
    TokenError,
)

TOKEN_URI = "https://oauth.test/token"


@pytest.fixture(scope="module")
def account() -> ServiceAccount:
    return ServiceAccount.generate(TOKEN_URI, project_id="proj-1")


class TokenEndpoint:
    """A MockTransport handler that checks the assertion and counts grants."""

    def __init__(self, account: ServiceAccount, expires_in: int = 3600) -> None:
        key = serialization.load_pem_private_key(account.private_key.encode(), None)
        self.public_key = key.public_key()
        self.account = account
        self.expires_in = expires_in
        self.grants = 0
        self.status = 200
        self.delay_s = 0.0
        self.claims: list[dict[str, object]] = []
        self.headers: list[dict[str, object]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(self.delay_s)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "nope"})
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        assert form["grant_type"] == JWT_BEARER_GRANT
        claims = jwt.decode(
            form["assertion"],
            self.public_key,  # type: ignore[arg-type]
            algorithms=["RS256"],
            audience=TOKEN_URI,
            issuer=self.account.client_email,
            options={"verify_exp": False, "verify_iat": False},  # the tests move the clock
        )
        self.claims.append(claims)
        self.headers.append(jwt.get_unverified_header(form["assertion"]))
        self.grants += 1
        return httpx.Response(
            200, json={"access_token": f"tok-{self.grants}", "expires_in": self.expires_in}
        )


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def _provider(
    account: ServiceAccount, endpoint: TokenEndpoint, clock: Clock
) -> tuple[AccessTokenProvider, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(endpoint))
    return AccessTokenProvider(account, http, clock=clock), http


def test_service_account_json_round_trip(account: ServiceAccount, tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    account.save(path)
    assert ServiceAccount.from_file(path) == account
    assert json.loads(path.read_text())["type"] == "service_account"
    assert path.stat().st_mode & 0o077 == 0
    with pytest.raises(ValueError, match="client_email"):
        ServiceAccount.from_mapping({"private_key": "x", "token_uri": "u", "project_id": "p"})


async def test_assertion_claims_and_caching(account: ServiceAccount) -> None:
    endpoint, clock = TokenEndpoint(account), Clock()
    provider, http = _provider(account, endpoint, clock)
    async with http:
        assert await provider.token() == "tok-1"
        assert await provider.token() == "tok-1"
    assert endpoint.grants == 1
    claims = endpoint.claims[0]
    assert claims["scope"] == FCM_SCOPE
    assert claims["iat"] == int(clock.t)
    assert claims["exp"] == int(clock.t) + 3600
    assert endpoint.headers[0]["alg"] == "RS256"
    assert endpoint.headers[0]["kid"] == account.private_key_id


async def test_refreshes_five_minutes_before_expiry(account: ServiceAccount) -> None:
    endpoint, clock = TokenEndpoint(account, expires_in=3600), Clock()
    provider, http = _provider(account, endpoint, clock)
    async with http:
        assert await provider.token() == "tok-1"
        clock.t += 3600 - 301
        assert await provider.token() == "tok-1"
        clock.t += 2  # now inside the 5-minute margin
        assert await provider.token() == "tok-2"
    assert provider.refresh_count == 2


async def test_concurrent_callers_share_one_refresh(account: ServiceAccount) -> None:
    endpoint, clock = TokenEndpoint(account), Clock()
    endpoint.delay_s = 0.05
    provider, http = _provider(account, endpoint, clock)
    async with http:
        tokens = await asyncio.gather(*(provider.token() for _ in range(20)))
    assert set(tokens) == {"tok-1"}
    assert endpoint.grants == 1


async def test_invalidate_only_drops_the_rejected_token(account: ServiceAccount) -> None:
    endpoint, clock = TokenEndpoint(account), Clock()
    provider, http = _provider(account, endpoint, clock)
    async with http:
        first = await provider.token()
        provider.invalidate("some-older-token")
        assert await provider.token() == first
        provider.invalidate(first)
        assert await provider.token() == "tok-2"


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (401, False), (503, True)])
async def test_endpoint_errors_raise_token_error(
    account: ServiceAccount, status: int, retryable: bool
) -> None:
    endpoint, clock = TokenEndpoint(account), Clock()
    endpoint.status = status
    provider, http = _provider(account, endpoint, clock)
    async with http:
        with pytest.raises(TokenError) as info:
            await provider.token()
    assert info.value.status == status
    assert info.value.retryable is retryable


def test_rejects_non_rsa_key(account: ServiceAccount) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    bad = ServiceAccount(account.client_email, pem, TOKEN_URI, "p")
    with pytest.raises(ValueError, match="RSA"):
        AccessTokenProvider(bad, httpx.AsyncClient())
