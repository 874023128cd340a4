"""``nightline dispatches repair-timers`` on the real Redis: a dispatch nobody owns whose
deadline is missing (an old desk hand-off) is listed, then scheduled with --apply, once;
owned dispatches and ones with their timer are left alone; an outbox an older version
left unrun is put in the effects index, once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import redis
from click.testing import CliRunner

from engine.adapters.redis_keys import Keys
from engine.cli import main
from engine.domain.dispatch import on_ack
from engine.handlers.timers import ack_timer_member
from engine.settings import Settings
from tests.unit.dispatch_factories import fire, started


def test_missing_deadlines_are_listed_then_scheduled_once(stack_settings: Settings) -> None:
    prefix = f"nltest-repair-{uuid.uuid4().hex[:8]}"
    keys, client = Keys(prefix), redis.Redis.from_url(stack_settings.redis_dsn)
    at_desk = fire(started(("dr-a",), repeats=0, dispatch_id="d-old")).state
    old = at_desk.to_dict() | {"ack_due_at": None, "page": 0}  # as stored before desk timers
    paging = started(dispatch_id="d-paging").state
    accepted = on_ack(paging, "accepted", "dr-a", "e-1", paging.updated_at).state
    rows = {"d-old": old, "d-paging": paging.to_dict(), "d-accepted": accepted.to_dict() | {
        "dispatch_id": "d-accepted"}}  # fmt: skip
    for dispatch_id, state in rows.items():
        client.hset(keys.dispatch(dispatch_id), mapping={"version": 1, "state": json.dumps(state)})
    client.hset(keys.dispatch("d-accepted"), "outbox", json.dumps([{"type": "StateChanged"}]))
    live = ack_timer_member("d-paging", 0, 1)
    client.zadd(keys.timers, {live: 1})
    env = {"REDIS_URL": stack_settings.redis_dsn, "NIGHTLINE_TOPIC_PREFIX": prefix}

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, ["dispatches", "repair-timers", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    listed = run()
    wanted = ack_timer_member("d-old", at_desk.step)  # the old member form: no page
    assert f"d-old (operator): {wanted} due" in listed
    assert "d-accepted: effects left by an older version" in listed
    assert "2 deadline(s) or unrun effects missing" in listed
    assert client.zscore(keys.timers, wanted) is None  # listing writes nothing
    assert client.zscore(keys.effects, "d-accepted") is None
    before = datetime.now(UTC).timestamp() * 1000
    assert "2 deadline(s) or unrun effects scheduled" in run("--apply")
    assert client.zscore(keys.effects, "d-accepted") is not None
    score = client.zscore(keys.timers, wanted)
    assert score is not None and score >= before - 1000
    assert client.zscore(keys.timers, live) == 1  # an existing timer is never moved
    assert "0 deadline(s) or unrun effects missing" in run()
