"""Usage for billing and message history through the API, built from the topics by the
read model, checked against what the worker did: pages, re-pages, escalations and the
desk alert of an unanswered call, a voicemail's minutes, and the dispatch's timeline."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest

from engine.schemas.intake import Caller, CallerType, CallReason, Voicemail
from tests.integration import scenario_data as data
from tests.integration.api_client import RunningApi, api_settings, create_account, running_api
from tests.integration.harness import Harness, wait_for

PASSWORD = "correct horse battery staple"


@pytest.fixture()
async def api(harness: Harness) -> AsyncIterator[RunningApi]:
    async with running_api(api_settings(harness.settings, harness.log_dir)) as running:
        yield running


async def _signed_in(api: RunningApi, roles: set[str], practice: str) -> dict[str, str]:
    admin = bool(roles & {"practice_admin", "service_admin"})
    name, secret = await create_account(api.services, "u", roles, {practice}, totp=admin)
    body: dict[str, Any] = {"username": name, "password": PASSWORD}
    if secret:
        body["totp"] = pyotp.TOTP(secret).now()
    answer = await api.client.post("/v1/auth/sign-in", json=body)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _eventually(check: Any, timeout: float, what: str) -> Any:
    for _ in range(int(timeout / 0.2)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def test_usage_and_history_match_what_happened(harness: Harness, api: RunningApi) -> None:
    practice_id = "p-usage"
    harness.load_practice(
        data.practice(practice_id, timeout_s=1.5, repeats=1), data.devices_for("dr-ash", "dr-birch")
    )
    call = data.urgent_call(practice_id)
    harness.producer.send_intake(call)
    voicemail = Voicemail(
        event_id=uuid.uuid4(), practice_id=practice_id, source_system="test-pbx",
        received_at=datetime.now(UTC), caller=Caller(type=CallerType.PATIENT),
        reason=CallReason.BILLING, call_id="vm-1", duration_seconds=125,
    )  # fmt: skip
    harness.producer.send_intake(voicemail)
    dispatch_id = f"d-{call.event_id}"
    wait_for(
        lambda: [a for a in harness.read("operator.alerts") if a.dispatch_id == dispatch_id],
        30,
        "the unanswered call at the desk",
    )
    pushes = harness.pushes(dispatch_id)
    assert [(p["clinician_id"], p["attempt"]) for p in pushes] == [
        ("dr-ash", 1), ("dr-ash", 2), ("dr-birch", 1), ("dr-birch", 2),
    ]  # fmt: skip

    billing = await _signed_in(api, {"billing"}, practice_id)
    url = f"/v1/usage/practices/{practice_id}"

    async def counted() -> dict[str, int] | None:
        rows = (await api.client.get(url, headers=billing)).json()["rows"]
        totals: dict[str, int] = {}
        for row in rows:
            for k, v in row["counts"].items():
                totals[k] = totals.get(k, 0) + v
        return totals if totals.get("desk_alerts") and totals.get("messages") else None

    totals = await _eventually(counted, 30, "the usage counted")
    assert totals["calls"] == 1 and totals["messages"] == 1 and totals["minutes"] == 3
    assert totals["dispatches_urgent"] == 1
    assert totals["pages"] == len(pushes) == 4
    assert totals["repages"] == 2 and totals["escalations"] == 1
    assert totals["desk_alerts"] == 1

    monthly = await api.client.get(f"{url}?group=month&format=csv", headers=billing)
    assert monthly.status_code == 200 and monthly.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(monthly.text)))
    assert sum(int(r["pages"]) for r in rows) == 4 and rows[0]["period"].count("-") == 1

    admin = await _signed_in(api, {"practice_admin"}, practice_id)
    history = f"/v1/admin/practices/{practice_id}/messages"
    listed = (await api.client.get(f"{history}?urgency=urgent", headers=admin)).json()
    assert [m["dispatch_id"] for m in listed["messages"]] == [dispatch_id]
    assert (await api.client.get(f"{history}?urgency=emergency", headers=admin)).json()[
        "messages"
    ] == []
    timeline = (await api.client.get(f"{history}/{dispatch_id}", headers=admin)).json()
    actions = [e["action"] for e in timeline["timeline"]]
    assert actions[0] == "page_sent" and "handed_to_operator" in actions
    assert data.SYNTHETIC_PATIENT not in str(timeline)
    purged = await api.client.get(f"{history}/{dispatch_id}/content", headers=admin)
    assert purged.status_code == 410  # the recording gateway keeps no content
    other = await _signed_in(api, {"practice_admin"}, "p-elsewhere")
    assert (await api.client.get(f"{history}/{dispatch_id}", headers=other)).status_code == 404
    assert (await api.client.get(url, headers=other)).status_code == 404


async def test_the_audit_chain_verifies_and_a_forged_checkpoint_is_found(
    harness: Harness, api: RunningApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from engine.cli import main

    harness.load_practice(data.practice("p-chain", timeout_s=60), data.devices_for("dr-ash"))
    call = data.urgent_call("p-chain")
    harness.producer.send_intake(call)
    wait_for(lambda: harness.pushes(f"d-{call.event_id}"), 15, "the page")
    chain = api.services.read_model.chain

    async def chained() -> bool:  # the read model has chained every audit record so far
        ends = wait_for(lambda: _audit_ends(harness), 10, "the audit topic")
        for partition, end in ends.items():
            _, head = await chain.state(partition)
            if end and (head is None or head[0] < end - 1):
                return False
        return True

    await _eventually(chained, 30, "the audit chain")
    for name in [n for n in os.environ if n.startswith("NIGHTLINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", harness.settings.kafka_servers)
    monkeypatch.setenv("REDIS_URL", harness.settings.redis_dsn)
    monkeypatch.setenv("NIGHTLINE_TOPIC_PREFIX", harness.prefix)
    ok = await asyncio.to_thread(CliRunner().invoke, main, ["verify", "--audit-chain"])
    assert ok.exit_code == 0 and "ok" in ok.output, ok.output

    partition = next(p for p, end in _audit_ends(harness).items() if end)
    checkpoints, _ = await chain.state(partition)
    first = min(checkpoints)
    key = api.services.keys.audit_checkpoints(partition)
    await api.services.redis.zremrangebyscore(key, first, first)
    await api.services.redis.zadd(key, {f"{first}:{'ab' * 32}": first})
    broken = await asyncio.to_thread(CliRunner().invoke, main, ["verify", "--audit-chain"])
    assert broken.exit_code == 1, (broken.output, checkpoints)
    assert f"partition {partition} offset {first}" in broken.output


def _audit_ends(h: Harness) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=h.settings.kafka_servers)
    try:
        name = f"{h.prefix}.audit"
        parts = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or []]
        return {tp.partition: end for tp, end in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


async def test_history_pages_do_not_skip_dispatches_of_the_same_millisecond(
    harness: Harness, api: RunningApi
) -> None:
    harness.load_practice(data.practice("p-pages"), [])
    keys, redis = api.services.keys, api.services.redis
    at = datetime(2026, 12, 5, 3, tzinfo=UTC)
    ms = int(at.timestamp() * 1000)
    ids = [f"d-same-{i}" for i in range(5)]
    for dispatch_id in ids:
        await redis.zadd(keys.message_index("p-pages"), {dispatch_id: ms})
        await redis.hset(keys.message_meta(dispatch_id), mapping={
            "practice_id": "p-pages", "urgency": "urgent", "status": "accepted",
            "level": "primary", "created_at": at.isoformat(), "updated_at": at.isoformat(),
        })  # fmt: skip
    admin = await _signed_in(api, {"practice_admin"}, "p-pages")
    seen: list[str] = []
    before = None
    for _ in range(10):
        query = "limit=2" + (f"&before={before}" if before else "")
        page = (
            await api.client.get(f"/v1/admin/practices/p-pages/messages?{query}", headers=admin)
        ).json()
        seen += [m["dispatch_id"] for m in page["messages"]]
        before = page["next_before"]
        if before is None:
            break
    assert sorted(seen) == ids and len(seen) == len(set(seen))
