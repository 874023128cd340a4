"""A worker SIGKILLed between committing a decision and carrying out its effects: the
dispatch is in Redis with its effects in the outbox, the page has not gone out. After a
restart the effects are run again (by the redelivered intake event or the effect
scanner, once the dead worker's claim lapsed): the page goes out, the state change is
published once, nothing is decided twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.handlers.intake import dispatch_id_for
from engine.settings import Settings
from engine.standins.phone import open_pushes, select_bodies
from engine.standins.virtual_device import VirtualDevice
from tests.integration import scenario_data as data
from tests.integration.harness import Harness, wait_for
from tests.integration.push_fakes import PushFakes


@pytest.fixture()
def fakes(tmp_path: Path) -> Iterator[PushFakes]:
    fakes = PushFakes(tmp_path / "fakes")
    yield fakes
    fakes.close()


def test_a_kill_between_commit_and_effects_loses_no_page(
    stack_settings: Settings, fakes: PushFakes, tmp_path: Path
) -> None:
    phone = VirtualDevice("dr-ash", "dr-ash-android", "android")
    env = {
        **fakes.env(),
        "NIGHTLINE_PUSH_WAIT_S": "60",  # the agent stays on the event while the push hangs
        "NIGHTLINE_PUSH_DEADLINE_S": "60",
        "NIGHTLINE_EFFECT_LEASE_S": "12",  # the dead worker's claim on the page lapses soon
    }
    (tmp_path / "worker").mkdir()
    h = Harness(stack_settings, tmp_path / "worker", env)
    try:
        h.load_practice(data.practice("p-k", timeout_s=600), [phone.device])
        fakes.fcm_fault(phone.push_token, "slow", delay_s=300)  # the provider hangs
        h.start_worker()
        event = data.urgent_call("p-k")
        h.producer.send_intake(event)
        dispatch_id = dispatch_id_for(event.event_id)

        def committed_not_run() -> list[dict[str, object]]:
            """The effects in the dispatch's outbox (``fx:<id>`` fields) not done yet."""
            fields = h.redis.hgetall(h.keys.dispatch(dispatch_id))
            return [json.loads(v) for k, v in fields.items() if k.startswith(b"fx:")]

        outbox = wait_for(committed_not_run, 20, "the decision committed with its outbox")
        assert {e["type"] for e in outbox} >= {"PagePerson", "StateChanged", "AuditEntry"}
        h.kill_worker()  # SIGKILL while the page is on its way
        assert not [s for s in h.read("dispatch.state") if s.dispatch_id == dispatch_id]

        fakes.fcm_fault(phone.push_token, "none")  # the provider answers again
        h.start_worker()

        def delivered() -> list[object]:
            received = select_bodies(phone.platform, phone.push_token, fakes.received("android"))
            return [p for p in open_pushes(phone, received) if p.dispatch_id == dispatch_id]

        [push] = wait_for(delivered, 45, "the page after the restart")
        assert push.content is not None and push.content["patient_name"] == data.SYNTHETIC_PATIENT
        states = wait_for(
            lambda: [s for s in h.read("dispatch.state") if s.dispatch_id == dispatch_id],
            15,
            "the state change published",
        )
        assert len({s.event_id for s in states}) == 1 and states[0].version == 1
        assert wait_for(lambda: committed_not_run() == [], 15, "the outbox cleared") is not None
        stored = json.loads(h.redis.hget(h.keys.dispatch(dispatch_id), "state"))
        assert (stored["version"], stored["status"], stored["page"]) == (1, "sent", 1)
    finally:
        h.close()
