"""Effects run until they are done, and each is done once: a commit appends to the
outbox and never overwrites what is not done, a re-run pushes only the devices no
earlier run reached, a failed publish is retried by the effect scanner with a growing
back-off, and pushes still running keep their page claimed. Fakes only, synthetic ids.
"""

from __future__ import annotations

import asyncio
import contextlib

from engine.handlers.effect_scanner import scan_due_effects
from engine.handlers.outbox import retry_delay_s
from engine.ports import Device, PushRequest, PushResult
from engine.schemas.acks import AckKind
from tests.unit.handler_world import World


class BrokerDown(ConnectionError):
    """The broker does not answer (transient)."""


def _publisher_down_for(w: World, topics: set[str]) -> list[int]:
    """Publishes to ``topics`` fail until the returned flag is set to [1]."""
    up = [0]
    real = w.publisher.publish

    async def publish(topic: str, key: str, event: object) -> None:
        if topic in topics and not up[0]:
            raise BrokerDown("broker away")
        await real(topic, key, event)  # type: ignore[arg-type]

    w.publisher.publish = publish  # type: ignore[method-assign]
    return up


def _pending(w: World, dispatch_id: str) -> list[str]:
    effects = w.svc.dispatches.effects  # type: ignore[attr-defined]
    return sorted(effects.get(dispatch_id, {}))


async def test_a_failed_publish_stays_in_the_outbox_and_the_scanner_sends_it_once() -> None:
    w = World(timeout_s=300)
    up = _publisher_down_for(w, {"dispatch.state"})
    dispatch_id = await w.urgent_call()
    assert w.paged() == [("dr-ash", 0, 1)]  # the page went out; only the event failed
    assert w.publisher.on("dispatch.state") == []
    assert len(_pending(w, dispatch_id)) == 1
    await w.tick(1)  # claimed by the committer for the lease: nobody retries yet
    assert w.publisher.on("dispatch.state") == []
    up[0] = 1
    await w.tick(w.svc.effect_lease_s)
    assert len(w.publisher.on("dispatch.state")) == 1
    assert _pending(w, dispatch_id) == []
    await w.tick(60)
    assert len(w.publisher.on("dispatch.state")) == 1
    assert w.paged() == [("dr-ash", 0, 1)]  # the page was not sent again


async def test_a_new_commit_appends_and_never_overwrites_effects_not_done() -> None:
    w = World(timeout_s=300)
    up = _publisher_down_for(w, {"dispatch.state"})
    dispatch_id = await w.urgent_call()
    await w.ack(dispatch_id, "dr-ash", AckKind.ACCEPTED)
    assert len(_pending(w, dispatch_id)) == 2  # the sent and the accepted events, both
    up[0] = 1
    await w.tick(w.svc.effect_lease_s + 1)
    assert [s.to_status for s in w.publisher.on("dispatch.state")] == ["sent", "accepted"]
    assert _pending(w, dispatch_id) == []


async def test_a_rerun_after_a_crash_pushes_no_device_twice() -> None:
    """Every device of the page was pushed, then the worker died before the page was
    marked done: the re-run finds the devices in the record and pushes none again."""
    w = World(timeout_s=300)
    w.svc.devices.devices["dr-ash"].append(  # type: ignore[attr-defined]
        Device("dr-ash-tablet", "dr-ash", "android", "tok-tablet")
    )
    real_complete = w.svc.dispatches.complete_effects

    async def die_once(dispatch_id: str, effect_ids: list[str]) -> None:
        w.svc.dispatches.complete_effects = real_complete  # type: ignore[method-assign]
        raise ConnectionError("worker died")

    w.svc.dispatches.complete_effects = die_once  # type: ignore[method-assign]
    dispatch_id = await w.urgent_call()
    assert sorted(r.device.device_id for r in w.push.sent) == ["dr-ash-phone", "dr-ash-tablet"]
    await w.tick(w.svc.effect_lease_s + 1)
    assert len(w.push.sent) == 2
    assert _pending(w, dispatch_id) == []
    assert w.svc.metrics.effect_retries._value.get() == 1  # type: ignore[attr-defined]


async def test_a_rerun_pushes_the_devices_the_first_run_did_not_reach() -> None:
    w = World(timeout_s=300)
    w.svc.devices.devices["dr-ash"].append(  # type: ignore[attr-defined]
        Device("dr-ash-tablet", "dr-ash", "android", "tok-tablet")
    )
    real_send = w.push.send

    async def tablet_dies_mid_send(request: PushRequest) -> PushResult:
        if request.device.device_id == "dr-ash-tablet":
            w.push.send = real_send  # type: ignore[method-assign]
            raise asyncio.CancelledError  # the worker stopped while this push was out
        return await real_send(request)

    w.push.send = tablet_dies_mid_send  # type: ignore[method-assign]
    with contextlib.suppress(asyncio.CancelledError):
        await w.urgent_call()
    assert [r.device.device_id for r in w.push.sent] == ["dr-ash-phone"]
    await w.tick(w.svc.effect_lease_s + 1)
    assert sorted(r.device.device_id for r in w.push.sent) == ["dr-ash-phone", "dr-ash-tablet"]


async def test_pushes_still_running_keep_their_page_until_they_end() -> None:
    w = World(timeout_s=300)
    w.svc.push_wait_s = 0.01
    release = asyncio.Event()
    real_send = w.push.send

    async def slow(request: PushRequest) -> PushResult:
        await release.wait()
        return await real_send(request)

    w.push.send = slow  # type: ignore[method-assign]
    dispatch_id = await w.urgent_call()
    assert len(_pending(w, dispatch_id)) == 1  # the page: its pushes are still out
    w.clock.advance(5)
    assert await scan_due_effects(w.svc) == 0
    release.set()
    for _ in range(20):
        await asyncio.sleep(0)
        if not _pending(w, dispatch_id):
            break
    assert _pending(w, dispatch_id) == []
    assert len(w.push.sent) == 1


async def test_an_effect_failing_for_minutes_is_stuck_and_retried_ever_less_often() -> None:
    w = World(timeout_s=3600)
    _publisher_down_for(w, {"dispatch.state"})
    await w.urgent_call()
    tries = []
    for _ in range(40):
        w.clock.advance(5)
        tries.append(await scan_due_effects(w.svc))
    assert sum(tries) < 40 / 2  # backed off, not every scan
    assert sum(tries) >= 3
    assert w.svc.metrics.stuck_effects._value.get() in (0, 1)  # type: ignore[attr-defined]
    w.clock.advance(120)
    await scan_due_effects(w.svc)
    assert w.svc.metrics.stuck_effects._value.get() == 1  # type: ignore[attr-defined]
    assert w.svc.metrics.pending_effects._value.get() == 1  # type: ignore[attr-defined]


def test_the_retry_delay_grows_with_the_wait_between_two_seconds_and_a_minute() -> None:
    assert retry_delay_s(0) == 2
    assert retry_delay_s(20) == 5
    assert retry_delay_s(3600) == 60


async def test_an_ended_dispatch_is_forgotten_when_its_event_id_is() -> None:
    w = World(timeout_s=300)
    w.svc.dedupe_ttl_s = 3600
    store = w.svc.dispatches
    dispatch_id = await w.urgent_call()
    assert dispatch_id not in store.expire_after_s  # type: ignore[attr-defined]
    await w.ack(dispatch_id, "dr-ash", AckKind.ACCEPTED)
    assert store.expire_after_s[dispatch_id] == 3600  # type: ignore[attr-defined]
