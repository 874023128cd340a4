"""The shared APNs provider token: ES256 claims, refresh age, one mint across workers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from engine.fakes import MemoryTokenStore
from engine.push.apns_token import ApnsTokenProvider

KEY = ec.generate_private_key(ec.SECP256R1())
T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def store(clock: FakeClock) -> MemoryTokenStore:
    return MemoryTokenStore(clock)


def worker(store: MemoryTokenStore, clock: FakeClock, **kw: Any) -> ApnsTokenProvider:
    return ApnsTokenProvider(KEY, "KEY123", "TEAM456", store, clock=clock, **kw)


async def test_token_is_es256_with_kid_iss_iat(store: MemoryTokenStore, clock: FakeClock) -> None:
    token = await worker(store, clock).token()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"] == "KEY123"
    claims = jwt.decode(token, KEY.public_key(), algorithms=["ES256"])
    assert claims == {"iss": "TEAM456", "iat": int(T0)}


async def test_workers_share_one_token(store: MemoryTokenStore, clock: FakeClock) -> None:
    a, b = worker(store, clock), worker(store, clock)
    assert await a.token() == await b.token()
    assert a.minted + b.minted == 1


async def test_local_copy_avoids_redis_until_refresh_age(
    store: MemoryTokenStore, clock: FakeClock
) -> None:
    a = worker(store, clock)
    await a.token()
    calls = len(store.calls)
    clock.t += 49 * 60
    await a.token()
    assert len(store.calls) == calls


async def test_refreshed_at_50_minutes_by_one_worker(
    store: MemoryTokenStore, clock: FakeClock
) -> None:
    a, b = worker(store, clock), worker(store, clock)
    first = await a.token()
    await b.token()
    clock.t += 50 * 60
    second = await a.token()
    assert second != first
    assert await b.token() == second  # b adopts a's new token instead of minting
    assert a.minted + b.minted == 2
    claims = jwt.decode(second, KEY.public_key(), algorithms=["ES256"])
    assert claims["iat"] == int(T0 + 50 * 60)


async def test_concurrent_workers_mint_once(store: MemoryTokenStore, clock: FakeClock) -> None:
    workers = [worker(store, clock) for _ in range(20)]
    tokens = await asyncio.gather(*(w.token() for w in workers for _ in range(3)))
    assert len(set(tokens)) == 1
    assert sum(w.minted for w in workers) == 1


async def test_invalidate_replaces_only_the_rejected_token(
    store: MemoryTokenStore, clock: FakeClock
) -> None:
    a, b = worker(store, clock), worker(store, clock)
    old = await a.token()
    assert await b.token() == old
    await a.invalidate(old)
    new = await a.token()
    assert new != old
    await b.invalidate(old)  # b saw the same 403 later: it must adopt, not mint again
    assert await b.token() == new
    assert a.minted + b.minted == 2


async def test_invalidate_of_an_old_token_keeps_current(
    store: MemoryTokenStore, clock: FakeClock
) -> None:
    a = worker(store, clock)
    current = await a.token()
    await a.invalidate("some.older.token")
    assert await a.token() == current
    assert a.minted == 1


async def test_stale_lock_of_a_dead_worker_is_waited_out_then_taken(
    store: MemoryTokenStore, clock: FakeClock
) -> None:
    """A worker died holding the mint lock: the next one waits while the lock lives (its
    own give-up time, twice its lock TTL, is far off), then takes the expired lock."""
    lock = "nightline:apns:token:TEAM456:KEY123:lock"
    await store.set(lock, "dead", nx=True, px=100)  # expires 0.1 s later on the fake clock
    a = worker(store, clock, lock_ttl_ms=3_600_000)
    minting = asyncio.create_task(a.token())
    await asyncio.wait_for(_until(lambda: store.calls.count("set") >= 3), 30)  # refused twice
    assert not minting.done() and a.minted == 0
    clock.t += 1  # the dead worker's lock expires
    token = await asyncio.wait_for(minting, 30)
    assert token and a.minted == 1
    assert list(store.data) == ["nightline:apns:token:TEAM456:KEY123"]  # and it let go again


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_lock_is_released_after_minting(store: MemoryTokenStore, clock: FakeClock) -> None:
    await worker(store, clock).token()
    assert list(store.data) == ["nightline:apns:token:TEAM456:KEY123"]


def test_refresh_age_must_respect_apple_window(store: MemoryTokenStore, clock: FakeClock) -> None:
    for bad in (10 * 60, 60 * 60):
        with pytest.raises(ValueError):
            worker(store, clock, refresh_after_s=bad)
