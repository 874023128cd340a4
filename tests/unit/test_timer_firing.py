"""Due timers fire in the worker that claimed them: at once, many together, each once;
a transient failure waits for the claim's lease, any other goes to the agent (and so
to the dead letters and the desk). Fakes only, synthetic ids."""

from __future__ import annotations

from engine.handlers.timer_firing import fire_in_process
from engine.handlers.timers import Command, scan_due_timers
from tests.unit.handler_world import World


def _fire(w: World):  # type: ignore[no-untyped-def]
    async def fire(key: str, command: Command) -> None:
        await fire_in_process(w.svc, key, command)

    return fire


def _firings(w: World, outcome: str) -> float:
    value = w.svc.metrics.registry.get_sample_value(
        "nightline_timer_firings_total", {"outcome": outcome}
    )
    return value or 0.0


async def test_a_burst_of_due_timers_fires_each_once_in_one_scan() -> None:
    w = World(timeout_s=60)
    dispatch_ids = [await w.urgent_call() for _ in range(200)]
    w.clock.advance(61)
    assert await scan_due_timers(w.svc, limit=500, fire=_fire(w)) == 200
    assert w.publisher.on("dispatch.commands") == []  # nothing queued behind a backlog
    repages = [p for p in w.paged() if p[1] == 1]
    assert len(repages) == 200
    assert _firings(w, "fired") == 200
    assert await scan_due_timers(w.svc, limit=500, fire=_fire(w)) == 0  # none fires again
    assert {r.dispatch_id for r in w.push.sent} == set(dispatch_ids)


async def test_a_transient_failure_fires_again_once_the_lease_ends() -> None:
    w = World(timeout_s=60)
    await w.urgent_call()
    real_load = w.svc.dispatches.load

    async def redis_away(dispatch_id: str):  # type: ignore[no-untyped-def]
        w.svc.dispatches.load = real_load  # type: ignore[method-assign]
        raise ConnectionError("redis away")

    w.svc.dispatches.load = redis_away  # type: ignore[method-assign]
    w.clock.advance(61)
    assert await scan_due_timers(w.svc, fire=_fire(w)) == 1
    assert _firings(w, "retry_after_lease") == 1
    assert [p for p in w.paged() if p[1] == 1] == []
    w.clock.advance(w.svc.timer_lease_s / 2)
    assert await scan_due_timers(w.svc, fire=_fire(w)) == 0  # still claimed
    w.clock.advance(w.svc.timer_lease_s)
    assert await scan_due_timers(w.svc, fire=_fire(w)) == 1
    assert len([p for p in w.paged() if p[1] == 1]) == 1


async def test_a_firing_that_fails_in_the_engine_goes_to_the_agent() -> None:
    w = World(timeout_s=60)
    dispatch_id = await w.urgent_call()
    real_load = w.svc.dispatches.load

    async def bug(wanted: str):  # type: ignore[no-untyped-def]
        w.svc.dispatches.load = real_load  # type: ignore[method-assign]
        raise KeyError("a bug")

    w.svc.dispatches.load = bug  # type: ignore[method-assign]
    w.clock.advance(61)
    await scan_due_timers(w.svc, fire=_fire(w))
    [command] = w.publisher.on("dispatch.commands")
    assert (command.dispatch_id, command.step, command.page) == (dispatch_id, 0, 1)
    assert _firings(w, "handed_to_agent") == 1
