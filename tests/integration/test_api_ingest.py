"""``POST /v1/intake`` on the real Kafka and Redis, through the real worker: keys,
idempotency, validation that names fields only (and still reaches the desk), scope,
batches, Kafka outages, and the headers and metrics every response carries."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from engine.handlers.intake import dispatch_id_for
from tests.integration import scenario_data as data
from tests.integration.api_client import RunningApi, api_settings, running_api
from tests.integration.harness import Harness, free_port, wait_for


@pytest.fixture()
async def api(harness: Harness) -> AsyncIterator[RunningApi]:
    async with running_api(api_settings(harness.settings, harness.log_dir)) as running:
        yield running


def _event(practice_id: str, **changes: Any) -> dict[str, Any]:
    event = json.loads(data.urgent_call(practice_id).model_dump_json())
    event.update(changes)
    return event


def _intake_ids(h: Harness) -> list[str]:
    """The event id of every record on the intake topic, valid or not."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=h.settings.kafka_servers, group_id=None)
    try:
        name = f"{h.prefix}.intake"
        parts = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or []]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        ids: list[str] = []
        while any(consumer.position(p) < ends[p] for p in parts):
            for records in consumer.poll(timeout_ms=500).values():
                ids += [str(json.loads(r.value).get("event_id")) for r in records]
        return ids
    finally:
        consumer.close()


async def test_a_call_over_http_is_dispatched_and_paged(harness: Harness, api: RunningApi) -> None:
    harness.load_practice(data.practice("p-api1", timeout_s=120), data.devices_for("dr-ash"))
    key = await api.integration_key("p-api1")
    event = _event("p-api1")
    answer = await api.client.post("/v1/intake", json=event, headers={"X-Api-Key": key})
    assert answer.status_code == 202, answer.text
    dispatch_id = dispatch_id_for(uuid.UUID(event["event_id"]))
    assert answer.json() == {"event_id": event["event_id"], "dispatch_id": dispatch_id}
    pushes = wait_for(lambda: harness.pushes(dispatch_id), 15, "the push")
    assert [p["clinician_id"] for p in pushes] == ["dr-ash"]


async def test_a_retry_gets_the_same_answer_and_another_body_gets_409(
    harness: Harness, api: RunningApi
) -> None:
    harness.load_practice(data.practice("p-api2", timeout_s=120), data.devices_for("dr-ash"))
    key = {"X-Api-Key": await api.integration_key("p-api2")}
    event = _event("p-api2")
    first = await api.client.post("/v1/intake", json=event, headers=key)
    again = await api.client.post("/v1/intake", json=event, headers=key)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    other = await api.client.post(
        "/v1/intake", json={**event, "message": "something else"}, headers=key
    )
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert "something else" not in other.text
    wait_for(lambda: event["event_id"] in _intake_ids(harness), 10, "the event on the topic")
    assert _intake_ids(harness).count(event["event_id"]) == 1


async def test_an_event_the_worker_already_took_from_kafka_is_a_duplicate_or_a_conflict(
    harness: Harness, api: RunningApi
) -> None:
    harness.load_practice(data.practice("p-api3", timeout_s=120), data.devices_for("dr-ash"))
    call = data.urgent_call("p-api3")
    harness.producer.send_intake(call)
    dispatch_id = dispatch_id_for(call.event_id)
    wait_for(lambda: harness.pushes(dispatch_id), 15, "the Kafka producer's call dispatched")
    key = {"X-Api-Key": await api.integration_key("p-api3")}
    same = json.loads(call.model_dump_json())
    assert (await api.client.post("/v1/intake", json=same, headers=key)).status_code == 202
    changed = {**same, "message": "not the same"}
    assert (await api.client.post("/v1/intake", json=changed, headers=key)).status_code == 409


async def test_an_invalid_event_names_fields_only_and_still_reaches_the_desk(
    harness: Harness, api: RunningApi
) -> None:
    harness.load_practice(data.practice("p-api4", timeout_s=120), data.devices_for("dr-ash"))
    key = {"X-Api-Key": await api.integration_key("p-api4")}
    secret = "Quokka-7319 at home"
    event = _event("p-api4", received_at="2026-12-05T03:00:00")
    event["caller"] = {"type": "parent_guardian", "callback_number": secret}
    answer = await api.client.post("/v1/intake", json=event, headers=key)
    assert answer.status_code == 422
    problem = answer.json()
    assert {(e["field"], e["problem"]) for e in problem["errors"]} == {
        ("voice_call.caller.callback_number", "string_pattern_mismatch"),
        ("voice_call.received_at", "value_error"),
    }
    assert secret not in answer.text and data.SYNTHETIC_MESSAGE not in answer.text
    event_id = uuid.UUID(event["event_id"])
    letters = wait_for(
        lambda: [d for d in harness.read("deadletter") if d.intake_event_id == event_id],
        15,
        "the dead letter",
    )
    assert "voice_call.caller.callback_number" in letters[0].reason
    assert secret not in letters[0].reason
    alerts = wait_for(
        lambda: [a for a in harness.read("operator.alerts") if a.intake_event_id == event_id],
        15,
        "the desk alert",
    )
    assert alerts and secret not in alerts[0].model_dump_json()


async def test_keys_are_checked_scoped_rotated_and_revoked(
    harness: Harness, api: RunningApi
) -> None:
    harness.load_practice(data.practice("p-api5", timeout_s=120), data.devices_for("dr-ash"))
    harness.load_practice(data.practice("p-api5b", timeout_s=120), data.devices_for("dr-ash"))
    token = await api.integration_key("p-api5")
    post = api.client.post
    no_key = await post("/v1/intake", json=_event("p-api5"))
    assert no_key.status_code == 401 and "x-api-key" in no_key.headers["www-authenticate"].lower()
    forged = token[:-4] + "AAAA"
    assert (
        await post("/v1/intake", json=_event("p-api5"), headers={"X-Api-Key": forged})
    ).status_code == 401
    other_practice = _event("p-api5b")
    refused = await post("/v1/intake", json=other_practice, headers={"X-Api-Key": token})
    assert refused.status_code == 403
    assert other_practice["event_id"] not in _intake_ids(harness)

    now = api.services.clock.now()
    key_id = token.split("_")[1]
    new, _ = await api.services.api_keys.rotate(key_id, now, timedelta(hours=1))
    for key in (token, new.token):  # both work during the grace
        answer = await post("/v1/intake", json=_event("p-api5"), headers={"X-Api-Key": key})
        assert answer.status_code == 202
    await api.services.api_keys.rotate(new.key_id, now, timedelta(0))
    ended = await post("/v1/intake", json=_event("p-api5"), headers={"X-Api-Key": new.token})
    assert ended.status_code == 401
    await api.services.api_keys.revoke(key_id, now)
    revoked = await post("/v1/intake", json=_event("p-api5"), headers={"X-Api-Key": token})
    assert revoked.status_code == 401


async def test_a_batch_answers_each_event_as_if_alone(harness: Harness, api: RunningApi) -> None:
    harness.load_practice(data.practice("p-api6", timeout_s=120), data.devices_for("dr-ash"))
    key = {"X-Api-Key": await api.integration_key("p-api6")}
    good = _event("p-api6")
    bad = _event("p-api6", reason="Not A Code")
    foreign = _event("p-elsewhere")
    answer = await api.client.post(
        "/v1/intake/batch", json={"events": [good, bad, foreign]}, headers=key
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [202, 422, 403]
    assert results[0]["accepted"]["event_id"] == good["event_id"]
    assert results[1]["problem"]["errors"][0]["field"] == "voice_call.reason"
    wait_for(lambda: harness.pushes(dispatch_id_for(uuid.UUID(good["event_id"]))), 15, "push")
    too_many = await api.client.post("/v1/intake/batch", json={"events": [good] * 101}, headers=key)
    assert too_many.status_code == 422


async def test_bad_bodies_are_4xx_problems(harness: Harness, api: RunningApi) -> None:
    harness.load_practice(data.practice("p-api7", timeout_s=120), data.devices_for("dr-ash"))
    key = {"X-Api-Key": await api.integration_key("p-api7")}
    not_json = await api.client.post("/v1/intake", content=b"{oops p-api7", headers=key)
    assert not_json.status_code == 400
    wait_for(  # unreadable, yet not lost: dead-lettered, and the default desk is told
        lambda: [d for d in harness.read("deadletter") if d.reason_code == "invalid_json"],
        15,
        "the unreadable body's dead letter",
    )
    huge = await api.client.post("/v1/intake", content=b"x" * 2_000_000, headers=key)
    assert huge.status_code == 413
    assert huge.headers["content-type"] == "application/problem+json"
    missing = await api.client.get("/v1/no-such-route")
    assert missing.status_code == 404 and missing.json()["status"] == 404


async def test_every_response_carries_the_security_headers_and_metrics_hold_no_ids(
    harness: Harness, api: RunningApi
) -> None:
    answer = await api.client.get("/healthz")
    assert answer.status_code == 200
    headers = answer.headers
    assert "max-age" in headers["strict-transport-security"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "access-control-allow-origin" not in headers
    await api.client.post("/v1/intake", json=_event("p-metrics"))
    metrics = (await api.client.get("/metrics")).text
    assert 'route="/v1/intake",status="401"' in metrics
    assert "p-metrics" not in metrics


async def test_kafka_away_is_503_with_retry_after_and_nothing_is_kept(
    harness: Harness,
) -> None:
    harness.load_practice(data.practice("p-api8", timeout_s=120), data.devices_for("dr-ash"))
    dead = api_settings(
        harness.settings,
        harness.log_dir,
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        api_kafka_deadline_s=1.0,
    )
    async with running_api(dead, wait_ready=False) as api:
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["kafka"] is False
        key = {"X-Api-Key": await api.integration_key("p-api8")}
        event = _event("p-api8")
        answer = await api.client.post("/v1/intake", json=event, headers=key)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "5"
        assert await api.services.redis.get(api.services.keys.ingest(event["event_id"])) is None


async def test_a_batch_of_the_wrong_shape_still_reaches_the_desk(
    harness: Harness, api: RunningApi
) -> None:
    harness.load_practice(data.practice("p-api9", timeout_s=120), data.devices_for("dr-ash"))
    key = {"X-Api-Key": await api.integration_key("p-api9")}
    marker = str(uuid.uuid4())
    body = {"events": [_event("p-api9")], "note": marker}
    answer = await api.client.post("/v1/intake/batch", json=body, headers=key)
    assert answer.status_code == 422
    wait_for(
        lambda: [d for d in harness.read("deadletter") if marker in harness.dead_letter_raw(d)],
        15,
        "the refused batch dead-lettered",
    )


async def test_deeply_nested_json_is_a_4xx(harness: Harness, api: RunningApi) -> None:
    key = {"X-Api-Key": await api.integration_key("p-api9")}
    for depth in (900, 952, 954, 956, 5000):
        raw = b'{"a":' * depth + b"1" + b"}" * depth
        answer = await api.client.post("/v1/intake", content=raw, headers=key)
        assert 400 <= answer.status_code < 500, (depth, answer.status_code)
