"""Every fake in ``engine.fakes`` held to its Redis adapter: one suite, run against both.

Each test runs twice, on the in-memory fake and on the real adapter (the shared Redis,
a key prefix of its own), and expects the same answers from both, so handler tests on
the fakes mean what they say. The Lua pieces (the dispatch commit's version
compare-and-set with its timer changes, the timer claim and its lease, the held-message
insert, the device update) are exercised here on the real Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from engine.adapters.redis_client import connect_redis
from engine.adapters.redis_directory import RedisDeviceDirectory
from engine.adapters.redis_keys import Keys
from engine.adapters.redis_store import RedisDispatchStore, RedisHeldStore, RedisTimerIndex
from engine.fakes import (
    MemoryDeviceDirectory,
    MemoryDispatchStore,
    MemoryHeldStore,
    MemoryTimerIndex,
    MemoryVault,
)
from engine.ports import Device, DueTimer, StoredDispatch
from engine.push.message_vault import MessageVault
from engine.push.payload import PushContent
from engine.schemas.intake import Urgency
from engine.settings import Settings

T0 = datetime(2026, 1, 7, 8, 0, 0, 123456, tzinfo=UTC)  # microseconds: stored as ms
LEASE_S = 3.0


@dataclass
class Ports:
    """One implementation of every port under contract."""

    devices: Any
    held: Any
    timers: Any
    dispatches: Any
    vault: Any


@pytest.fixture(params=["memory", "redis"])
async def ports(request: pytest.FixtureRequest, stack_settings: Settings) -> AsyncIterator[Ports]:
    if request.param == "memory":
        timers = MemoryTimerIndex()
        yield Ports(
            MemoryDeviceDirectory(),
            MemoryHeldStore(timers),
            timers,
            MemoryDispatchStore(timers),
            MemoryVault(),
        )
        return
    redis = connect_redis(stack_settings)  # the worker's client: commands sent together
    prefix = f"nltest-contract-{uuid.uuid4().hex[:10]}"
    keys = Keys(prefix)
    yield Ports(
        RedisDeviceDirectory(redis, keys),
        RedisHeldStore(redis, keys),
        RedisTimerIndex(redis, keys),
        RedisDispatchStore(redis, keys),
        MessageVault(redis, prefix, MessageVault.generate_key(), ttl_s=600),
    )
    stale = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
    if stale:
        await redis.delete(*stale)
    await redis.aclose()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ms(moment: datetime) -> datetime:
    """``moment`` to the whole millisecond, as timers keep their due times."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def row(version: int, step: int = 0, outbox: list[dict[str, Any]] | None = None) -> StoredDispatch:
    state = {"status": "sent", "step": step, "paged": ["dr-ash"], "plan": {"steps": [1.5]}}
    return StoredDispatch(state, version, outbox or [], {"intake_event_id": "e-1"})


async def add_timers(ports: Ports, timers: dict[str, datetime]) -> None:
    """Timers enter the index with a dispatch commit (one dispatch per timer here)."""
    for member, due in timers.items():
        assert await ports.dispatches.commit(f"d-{member}", 0, row(1), {member: due}, [])


# --- device directory ----------------------------------------------------------------------


def phone(device_id: str, clinician: str = "dr-ash", **fields: Any) -> Device:
    return Device(device_id, clinician, "ios", f"tok-{device_id}", public_key="pk", **fields)


class TestDeviceDirectoryContract:
    """The registry as it is today (one hash of devices per clinician)."""

    async def test_register_keeps_every_field_and_lists_active_devices_by_id(
        self, ports: Ports
    ) -> None:
        d = ports.devices
        await d.register(phone("phone-b", critical_alerts=True, app_version="1.2"))
        await d.register(phone("phone-a"))
        await d.register(phone("pixel", clinician="dr-birch"))
        found = await d.devices_for(["dr-ash", "dr-nobody", "dr-birch"])
        assert list(found) == ["dr-ash", "dr-nobody", "dr-birch"]
        assert found["dr-ash"] == [phone("phone-a"), phone("phone-b", critical_alerts=True,
                                                             app_version="1.2")]  # fmt: skip
        assert found["dr-nobody"] == [] and found["dr-birch"] == [phone("pixel", "dr-birch")]
        assert await d.get("dr-ash", "phone-a") == phone("phone-a")
        assert await d.get("dr-ash", "phone-x") is None

    async def test_register_again_replaces_the_record(self, ports: Ports) -> None:
        d = ports.devices
        await d.register(phone("phone-a"))
        await d.deactivate("dr-ash", "phone-a", "apns 410 Unregistered")
        await d.register(replace(phone("phone-a"), push_token="tok-new"))
        assert await d.devices_for(["dr-ash"]) == {
            "dr-ash": [replace(phone("phone-a"), push_token="tok-new")]
        }
        assert await d.deactivation_reason("dr-ash", "phone-a") is None

    async def test_deactivate_keeps_the_record_and_why(self, ports: Ports) -> None:
        d = ports.devices
        await d.register(phone("phone-a"))
        assert await d.deactivate("dr-ash", "phone-a", "apns 410 Unregistered")
        assert await d.devices_for(["dr-ash"]) == {"dr-ash": []}
        assert await d.get("dr-ash", "phone-a") == replace(phone("phone-a"), active=False)
        assert await d.deactivation_reason("dr-ash", "phone-a") == "apns 410 Unregistered"
        assert not await d.deactivate("dr-ash", "phone-x", "gone")

    async def test_rotate_token_reactivates(self, ports: Ports) -> None:
        d = ports.devices
        await d.register(phone("phone-a"))
        await d.deactivate("dr-ash", "phone-a", "fcm UNREGISTERED")
        assert await d.rotate_token("dr-ash", "phone-a", "tok-fresh")
        assert await d.devices_for(["dr-ash"]) == {
            "dr-ash": [replace(phone("phone-a"), push_token="tok-fresh")]
        }
        assert await d.deactivation_reason("dr-ash", "phone-a") is None
        assert not await d.rotate_token("dr-ash", "phone-x", "tok")

    async def test_touch_and_remove(self, ports: Ports) -> None:
        d = ports.devices
        await d.register(phone("phone-a"))
        assert await d.touch("dr-ash", "phone-a", T0)
        assert await d.get("dr-ash", "phone-a") == replace(
            phone("phone-a"), last_seen=T0.isoformat()
        )
        assert not await d.touch("dr-ash", "phone-x", T0)
        await d.remove("dr-ash", "phone-a")
        await d.remove("dr-ash", "phone-x")  # unknown: nothing happens
        assert await d.devices_for(["dr-ash"]) == {"dr-ash": []}
        assert await d.get("dr-ash", "phone-a") is None


# --- held messages ------------------------------------------------------------------------


class TestHeldStoreContract:
    async def test_hold_once_with_its_release_timer(self, ports: Ports) -> None:
        record = {"practice_id": "p-1", "intake_event_id": "e-1", "tags": ("a", "b")}
        assert await ports.held.hold("h-1", record, at(60), "rel|p-1|h-1")
        assert not await ports.held.hold("h-1", {"other": 1}, at(90), "rel|p-1|h-1-again")
        assert await ports.held.get("h-1") == {**record, "tags": ["a", "b"]}  # stored as JSON
        assert await ports.timers.pending() == 1
        assert await ports.timers.claim_due(at(120), LEASE_S, 10) == [
            DueTimer("rel|p-1|h-1", ms(at(60)))
        ]

    async def test_get_returns_a_copy(self, ports: Ports) -> None:
        await ports.held.hold("h-1", {"practice_id": "p-1"}, at(60), "rel|p-1|h-1")
        first = await ports.held.get("h-1")
        assert first is not None
        first["practice_id"] = "changed by the caller"
        assert await ports.held.get("h-1") == {"practice_id": "p-1"}

    async def test_forget_drops_the_message_and_its_timer(self, ports: Ports) -> None:
        await ports.held.hold("h-1", {"practice_id": "p-1"}, at(60), "rel|p-1|h-1")
        await ports.held.forget("h-1", "rel|p-1|h-1")
        assert await ports.held.get("h-1") is None and await ports.timers.pending() == 0
        assert await ports.held.hold("h-1", {"practice_id": "p-1"}, at(60), "rel|p-1|h-1")

    async def test_seen_keys(self, ports: Ports) -> None:
        assert not await ports.held.was_seen("intake:e-1")
        assert await ports.held.mark_seen("intake:e-1", 600)
        assert not await ports.held.mark_seen("intake:e-1", 600)
        assert await ports.held.was_seen("intake:e-1")


# --- timer index ---------------------------------------------------------------------------


class TestTimerIndexContract:
    async def test_claim_due_in_due_order_up_to_the_limit(self, ports: Ports) -> None:
        await add_timers(ports, {"ack|d-3|0": at(30), "ack|d-1|0": at(10), "ack|d-2|0": at(20)})
        await add_timers(ports, {"ack|d-9|0": at(90)})
        claimed = await ports.timers.claim_due(at(30), LEASE_S, 2)  # at(30) itself is due
        assert claimed == [DueTimer("ack|d-1|0", ms(at(10))), DueTimer("ack|d-2|0", ms(at(20)))]
        assert await ports.timers.claim_due(at(30), LEASE_S, 10) == [
            DueTimer("ack|d-3|0", ms(at(30)))
        ]
        assert await ports.timers.pending() == 4  # claimed timers stay until removed

    async def test_a_claim_is_leased_then_claimable_again_with_its_due_time(
        self, ports: Ports
    ) -> None:
        await add_timers(ports, {"ack|d-1|0": at(10)})
        assert [t.member for t in await ports.timers.claim_due(at(20), LEASE_S, 10)] == [
            "ack|d-1|0"
        ]
        assert await ports.timers.claim_due(at(20), LEASE_S, 10) == []
        assert await ports.timers.claim_due(at(20 + LEASE_S - 0.001), LEASE_S, 10) == []
        again = await ports.timers.claim_due(at(20 + LEASE_S), LEASE_S, 10)  # lease over
        assert again == [DueTimer("ack|d-1|0", ms(at(10)))]  # the original due time

    async def test_concurrent_claims_take_each_timer_once(self, ports: Ports) -> None:
        await add_timers(ports, {f"ack|d-{i}|0": at(i) for i in range(20)})
        claims = await asyncio.gather(
            *(ports.timers.claim_due(at(60), LEASE_S, 7) for _ in range(5))
        )
        members = [t.member for claim in claims for t in claim]
        assert sorted(members) == sorted(f"ack|d-{i}|0" for i in range(20))

    async def test_remove(self, ports: Ports) -> None:
        await add_timers(ports, {"ack|d-1|0": at(10), "ack|d-2|0": at(10)})
        await ports.timers.remove(["ack|d-1|0", "ack|d-unknown|0"])
        await ports.timers.remove([])
        assert await ports.timers.pending() == 1
        assert [t.member for t in await ports.timers.claim_due(at(60), LEASE_S, 10)] == [
            "ack|d-2|0"
        ]


# --- dispatch store ------------------------------------------------------------------------


class TestDispatchStoreContract:
    async def test_commit_creates_at_version_zero_and_load_reads_it_back(
        self, ports: Ports
    ) -> None:
        s = ports.dispatches
        assert await s.load("d-1") is None
        stored = row(1, outbox=[{"id": "1.0", "effect": "page", "to": ("dr-ash",)}])
        assert await s.commit("d-1", 0, stored, {"ack|d-1|0": at(60)}, [])
        loaded = await s.load("d-1")
        assert loaded == StoredDispatch(  # as JSON keeps it: tuples come back as lists
            stored.state, 1, [{"id": "1.0", "effect": "page", "to": ["dr-ash"]}], stored.meta
        )
        assert await ports.timers.pending() == 1

    async def test_a_failed_compare_and_set_changes_nothing(self, ports: Ports) -> None:
        s = ports.dispatches
        first = row(1, outbox=[{"id": "1.0", "n": 1}])
        assert await s.commit("d-1", 0, first, {"ack|d-1|0": at(60)}, [])
        other = row(1, step=5, outbox=[{"id": "1.0", "n": 2}])
        assert not await s.commit("d-1", 0, other, {"ack|d-1|5": at(90)}, ["ack|d-1|0"])
        assert not await s.commit("d-1", 2, row(3, step=5), {"ack|d-1|5": at(90)}, ["ack|d-1|0"])
        assert await s.load("d-1") == first
        claimed = await ports.timers.claim_due(at(120), LEASE_S, 10)
        assert claimed == [DueTimer("ack|d-1|0", ms(at(60)))]  # no timer added or removed

    async def test_timers_added_and_removed_in_the_same_commit(self, ports: Ports) -> None:
        s = ports.dispatches
        assert await s.commit("d-1", 0, row(1), {"ack|d-1|0": at(60), "rcpt|d-1|0": at(20)}, [])
        assert await s.commit(
            "d-1",
            1,
            row(2, step=1),
            {"ack|d-1|1": at(120), "rcpt|d-1|0": at(30)},
            ["ack|d-1|0", "rcpt|d-1|0"],
        )  # fmt: skip  -- a member both removed and added ends up added, at its new time
        assert (await s.load("d-1")) == row(2, step=1)
        claimed = await ports.timers.claim_due(at(600), LEASE_S, 10)
        assert claimed == [DueTimer("rcpt|d-1|0", ms(at(30))), DueTimer("ack|d-1|1", ms(at(120)))]

    async def test_concurrent_commits_at_one_version_let_one_win(self, ports: Ports) -> None:
        s = ports.dispatches
        assert await s.commit("d-1", 0, row(1), {}, [])
        wins = await asyncio.gather(*(s.commit("d-1", 1, row(2, step=i), {}, []) for i in range(5)))
        assert sorted(wins) == [False] * 4 + [True]
        loaded = await s.load("d-1")
        assert loaded is not None and loaded.version == 2
        assert loaded.state["step"] == wins.index(True)

    async def test_a_commit_appends_effects_and_each_is_completed_alone(self, ports: Ports) -> None:
        s = ports.dispatches
        assert await s.commit("d-1", 0, row(1, outbox=[{"id": "1.0", "n": 1}]), {}, [])
        two = row(2, outbox=[{"id": "2.0", "n": 2}, {"id": "2.1", "n": 3}])
        assert await s.commit("d-1", 1, two, {}, [])
        loaded = await s.load("d-1")
        assert loaded is not None
        assert [e["id"] for e in loaded.outbox] == ["1.0", "2.0", "2.1"]  # none overwritten
        await s.complete_effects("d-1", ["2.0"])
        await s.complete_effects("d-1", ["2.0", "9.9"])  # again, and an unknown id: harmless
        loaded = await s.load("d-1")
        assert loaded is not None and [e["id"] for e in loaded.outbox] == ["1.0", "2.1"]
        assert await s.pending_effects() == 1
        await s.complete_effects("d-1", ["1.0", "2.1"])
        assert await s.load("d-1") == row(2)
        assert await s.pending_effects() == 0

    async def test_effects_are_claimed_by_their_committer_until_the_lease_ends(
        self, ports: Ports
    ) -> None:
        s = ports.dispatches
        one = row(1, outbox=[{"id": "1.0"}, {"id": "1.1"}])
        assert await s.commit("d-1", 0, one, {}, [], claim_until=at(30))
        assert await s.claim_effects("d-1", ["1.0", "1.1"], at(10), at(40)) == []
        assert await s.claim_effects("d-1", ["1.0", "1.1", "7.0"], at(31), at(61)) == [
            "1.0",
            "1.1",
        ]
        assert await s.claim_effects("d-1", ["1.0"], at(50), at(80)) == []  # ours till 61
        await s.release_effects("d-1", ["1.0"])  # a run failed: anyone may retry it now
        assert await s.claim_effects("d-1", ["1.0"], at(51), at(81)) == ["1.0"]
        await s.complete_effects("d-1", ["1.0"])
        assert await s.claim_effects("d-1", ["1.0", "1.1"], at(62), at(92)) == ["1.1"]

    async def test_devices_a_page_reached_are_kept_until_the_page_is_done(
        self, ports: Ports
    ) -> None:
        s = ports.dispatches
        assert await s.commit("d-1", 0, row(1, outbox=[{"id": "1.0"}]), {}, [])
        await s.mark_sent("d-1", "1.0", ["phone"])
        await s.mark_sent("d-1", "1.0", ["tablet"])
        await s.mark_sent("d-1", "5.0", ["phone"])  # no such effect: nothing recorded
        loaded = await s.load("d-1")
        assert loaded is not None and loaded.sent == {"1.0": ["phone", "tablet"]}
        await s.complete_effects("d-1", ["1.0"])
        await s.mark_sent("d-1", "1.0", ["late"])  # a push ending after the page was done
        loaded = await s.load("d-1")
        assert loaded is not None and loaded.sent == {} and loaded.outbox == []

    async def test_due_effects_come_back_after_their_claim_and_then_after_the_retry(
        self, ports: Ports
    ) -> None:
        s = ports.dispatches
        assert await s.commit("d-1", 0, row(1, outbox=[{"id": "1.0"}]), {}, [], at(30))
        assert await s.commit("d-2", 0, row(1, outbox=[{"id": "1.0"}]), {}, [], at(20))
        assert await s.commit("d-3", 0, row(1), {}, [], at(10))  # no effects: not indexed
        assert await s.due_effects(at(15), at(45), 10) == []
        assert await s.due_effects(at(31), at(45), 10) == ["d-2", "d-1"]
        assert await s.due_effects(at(40), at(50), 10) == []
        await s.postpone_effects("d-1", at(100))
        await s.postpone_effects("d-9", at(100))  # not indexed: stays out
        assert await s.due_effects(at(46), at(60), 10) == ["d-2"]
        assert await s.pending_effects() == 2
        # a later commit with effects brings an earlier retry forward, never later
        assert await s.commit("d-1", 1, row(2, outbox=[{"id": "2.0"}]), {}, [], at(70))
        assert await s.due_effects(at(75), at(200), 10) == ["d-2", "d-1"]


async def test_an_ended_dispatch_expires_in_redis(stack_settings: Settings) -> None:
    """Redis only (the fake records the request): the hash lives on while the dispatch
    runs, and expires once a commit says it ended."""
    redis = Redis.from_url(stack_settings.redis_dsn)
    keys = Keys(f"nltest-expire-{uuid.uuid4().hex[:10]}")
    store = RedisDispatchStore(redis, keys)
    try:
        assert await store.commit("d-1", 0, row(1), {}, [])
        assert await redis.ttl(keys.dispatch("d-1")) == -1
        assert await store.commit("d-1", 1, row(2), {}, [], expire_after_s=600)
        assert 590 <= await redis.ttl(keys.dispatch("d-1")) <= 600
    finally:
        await redis.delete(keys.dispatch("d-1"))
        await redis.aclose()


# --- message vault --------------------------------------------------------------------------


def content(dispatch_id: str, message: str = "Synthetic: fever since noon") -> PushContent:
    return PushContent(
        dispatch_id=dispatch_id,
        urgency=Urgency.URGENT,
        patient_name="Test Patient Alpha",
        callback_number="+1 555 0100",
        message=message,
        practice_name="Synthetic Pediatrics",
    )


class TestVaultContract:
    async def test_put_get_and_replace(self, ports: Ports) -> None:
        assert await ports.vault.get("d-1") is None
        await ports.vault.put(content("d-1"))
        await ports.vault.put(content("d-2", "Synthetic: rash"))
        assert await ports.vault.get("d-1") == content("d-1")
        await ports.vault.put(content("d-1", "Synthetic: called back"))
        assert await ports.vault.get("d-1") == content("d-1", "Synthetic: called back")
        assert await ports.vault.get("d-2") == content("d-2", "Synthetic: rash")


async def test_a_clinicians_pages_are_listed_newest_first_once_each(ports: Ports) -> None:
    store = ports.dispatches
    await store.note_paged("d-1", ["dr-ash", "dr-birch"], at(0))
    await store.note_paged("d-2", ["dr-ash"], at(10))
    await store.note_paged("d-1", ["dr-ash"], at(20))  # a re-page moves it up
    assert await store.paged_for("dr-ash", 10) == ["d-1", "d-2"]
    assert await store.paged_for("dr-ash", 1) == ["d-1"]
    assert await store.paged_for("dr-birch", 10) == ["d-1"]
    assert await store.paged_for("dr-nobody", 10) == []
