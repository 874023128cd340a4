"""The practice store and the worker cache on the real Redis and Kafka: revisions,
history, the compacted ``practices`` topic, the audit event, the cache that
follows the topic, the ``schedule`` CLI against the store, and a worker that
pages by a schedule changed after it started."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from redis.asyncio import Redis as AsyncRedis

from engine.adapters.practice_cache import PracticeCache
from engine.adapters.practice_store import PracticeStore
from engine.adapters.redis_directory import RedisDeviceDirectory
from engine.cli.schedule import schedule
from engine.domain.oncall import resolve_chain
from engine.domain.practice import Practice
from engine.domain.schedule import Override
from engine.handlers.intake import dispatch_id_for
from engine.practice_files import load_practice_file
from engine.schemas.codec import encode
from engine.schemas.intake import Urgency
from engine.schemas.practices import PracticeDefinitionChanged
from tests.integration import scenario_data as data
from tests.integration.harness import Harness, wait_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "practices"


def clinic_a() -> Practice:
    return load_practice_file(FIXTURES / "clinic-a.yaml").practice


def with_override(practice: Practice, override: Override) -> Practice:
    group = practice.coverage_groups[0]
    changed = group.model_copy(update={"overrides": [*group.overrides, override]})
    return practice.model_copy(update={"coverage_groups": [changed]})


def cover_now(clinician_id: str, override_id: str = "cover-now") -> Override:
    now = datetime.now(UTC)
    return Override(
        override_id=override_id,
        clinician_id=clinician_id,
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=1),
    )


def register_phones(h: Harness, *clinicians: str) -> None:
    """What the clinicians' apps do through the devices topic, straight into the registry."""

    async def register() -> None:
        redis = AsyncRedis.from_url(h.settings.redis_dsn)
        try:
            directory = RedisDeviceDirectory(redis, h.keys)
            for device in data.devices_for(*clinicians):
                await directory.register(device)
        finally:
            await redis.aclose()

    asyncio.run(register())


def test_put_keeps_revisions_history_and_publishes(own_harness: Harness) -> None:
    h = own_harness
    store = PracticeStore(h.redis, h.keys, h.producer)
    first = clinic_a()
    second = with_override(first, cover_now("np-c"))
    assert store.put(first, "op-jane") == 1
    assert store.put(second, "op-kim") == 2

    assert store.get("clinic-a") == second.model_copy(update={"revision": 2})
    assert store.get_revision("clinic-a", 1) == first.model_copy(update={"revision": 1})
    assert store.practice_ids() == ["clinic-a"]
    assert store.republish("clinic-a", after=2) == 2  # nothing newer: nothing sent
    history = store.history("clinic-a")
    assert [(e.revision, e.actor) for e in history] == [(1, "op-jane"), (2, "op-kim")]
    assert history[0].summary.startswith("created: 1 groups, 2 layers")
    assert history[1].summary == "overrides +1"

    wait_for(lambda: len(h.read("practices")) >= 2, 15, "both revisions on the topic")
    latest = h.read("practices")[-1]
    assert (latest.practice_id, latest.revision, latest.actor) == ("clinic-a", 2, "op-kim")
    assert latest.practice == store.get("clinic-a")

    def practice_audits() -> list[Any]:
        return [a for a in h.read("audit") if a.subject_type == "practice"]

    wait_for(lambda: len(practice_audits()) >= 2, 15, "audit events")
    audit = practice_audits()[-1]
    assert audit.action == "schedule_changed"
    assert (audit.actor, audit.subject_id, audit.detail) == (
        "op-kim",
        "clinic-a",
        "revision 2: overrides +1",
    )

    admin = KafkaAdminClient(bootstrap_servers=h.settings.kafka_servers)
    try:
        name = f"{h.prefix}.practices"
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        assert configs["topic"][name]["cleanup.policy"]["value"] == "compact"
    finally:
        admin.close()


async def test_cache_follows_the_topic_and_falls_back_to_redis(own_harness: Harness) -> None:
    h = own_harness
    store = PracticeStore(h.redis, h.keys, h.producer)
    redis = AsyncRedis.from_url(h.settings.redis_dsn)
    cache = PracticeCache(redis, h.keys, h.settings.kafka_servers, f"{h.prefix}.practices")
    await asyncio.to_thread(store.put, clinic_a(), "op-jane")
    task = asyncio.create_task(cache.run())
    try:
        await asyncio.wait_for(cache.caught_up.wait(), 20)
        cached = cache.cached("clinic-a")
        assert cached is not None and cached.revision == 1

        await asyncio.to_thread(store.put, with_override(clinic_a(), cover_now("np-c")), "op-kim")
        for _ in range(100):  # a few seconds at most
            cached = cache.cached("clinic-a")
            if cached is not None and cached.revision == 2:
                break
            await asyncio.sleep(0.05)
        assert cached is not None and cached.revision == 2
        got = await cache.get("clinic-a")
        assert got is not None and got.revision == 2 and cache.redis_reads == 0
        stale = PracticeDefinitionChanged(
            practice_id="clinic-a",
            revision=1,
            actor="op-old",
            changed_at=datetime.now(UTC),
            practice=clinic_a(),
        )
        assert not cache.apply(b"clinic-a", encode(stale))  # never back to an older revision
        assert not cache.apply(b"clinic-a", b"not json")
        assert cache.cached("clinic-a") == got

        # written to Redis only (as the harness does): one Redis read, then cached
        h.load_practice(data.practice("p-direct"), [])
        assert (await cache.get("p-direct")) is not None
        assert (await cache.get("p-direct")) is not None and cache.redis_reads == 1
        assert await cache.get("p-nowhere") is None
    finally:
        await cache.stop()
        await asyncio.wait_for(task, 5)
        await redis.aclose()


def test_cli_loads_and_answers_from_the_store(
    own_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = own_harness
    monkeypatch.setenv("NIGHTLINE_TOPIC_PREFIX", h.prefix)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", h.settings.kafka_servers)
    monkeypatch.setenv("REDIS_URL", h.settings.redis_dsn)
    runner = CliRunner()
    path = str(FIXTURES / "clinic-a.yaml")
    loaded = runner.invoke(schedule, ["load", path, "--actor", "op-jane"])
    assert loaded.exit_code == 0, loaded.output
    assert loaded.output.startswith("clinic-a revision 1: created")
    again = runner.invoke(schedule, ["load", path])
    assert again.output.strip() == "clinic-a revision 2: no changes"
    assert not h.redis.exists(h.keys.devices("dr-a"))  # phones register themselves

    at = "2026-12-01T12:00:00-05:00"  # swap-1 puts dr-a on primary in dr-b's week
    who = runner.invoke(schedule, ["who", "clinic-a", "--at", at])
    assert who.exit_code == 0, who.output
    assert who.output.splitlines()[1].split()[:3] == ["1.", "primary", "dr-a"]
    unknown = runner.invoke(schedule, ["who", "nope"])
    assert unknown.exit_code == 1 and "unknown practice 'nope' (stored: clinic-a)" in unknown.output
    history = runner.invoke(schedule, ["history", "clinic-a"])
    assert [line.split()[2] for line in history.output.splitlines()] == ["op-jane", "cli"]

    published = runner.invoke(schedule, ["publish"])
    assert published.output == "published clinic-a revision 2\n"
    wait_for(lambda: len(h.read("practices")) == 3, 15, "the republished document")
    assert [(e.revision, e.actor) for e in h.read("practices")] == [
        (1, "op-jane"),
        (2, "cli"),
        (2, "cli"),
    ]


def test_worker_pages_by_a_schedule_changed_after_it_started(harness: Harness) -> None:
    store = PracticeStore(harness.redis, harness.keys, harness.producer)
    register_phones(harness, "dr-a", "dr-b", "np-c")
    practice = clinic_a()
    store.put(practice, "op-jane")
    first = resolve_chain(practice, datetime.now(UTC), Urgency.URGENT).levels[0].targets

    def first_push(event_id: uuid.UUID) -> list[str]:
        pushes = harness.pushes(dispatch_id_for(event_id))
        return [p["clinician_id"] for p in pushes][:1]

    call = data.urgent_call("clinic-a")
    harness.producer.send_intake(call)
    assert wait_for(lambda: first_push(call.event_id), 30, "first push") == list(first[:1])

    covering = "np-c" if "np-c" not in first else "dr-b"
    store.put(with_override(practice, cover_now(covering)), "op-kim")
    time.sleep(2)  # the worker's cache polls the practices topic every 0.5 s
    call = data.urgent_call("clinic-a")
    harness.producer.send_intake(call)
    assert wait_for(lambda: first_push(call.event_id), 30, "push by revision 2") == [covering]
