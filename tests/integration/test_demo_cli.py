"""The commands the demo and the README's "Watching a dispatch" rely on, run as the user
runs them (``nightline ...`` through click's runner, configured by the environment)
against the shared stack, each test in a deployment of its own (topic and key prefix).

One story with the recording gateway (``publish --sample``, ``pushes``, ``clock
advance``, ``ack``, ``tail``, ``schedule load`` / ``who``, ``topics create``) and one
through the local fake APNs and FCM with virtual phones (``device register --direct``,
``device listen``, ``device inbox``), on the demo practice itself
(``deploy/practices/demo-pediatrics.yaml``). Every patient detail is synthetic.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from kafka.admin import KafkaAdminClient

from engine.cli import main
from engine.schemas.catalogue import CATALOGUE
from engine.settings import Settings
from engine.stack.push_fakes import start_push_fakes, stop_push_fakes
from tests.integration.harness import Harness, free_port, wait_for

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "practices" / "demo-pediatrics.yaml"
PATIENT, CALLBACK = "Synthetic Patient Zulu", "+1 555 0100"  # engine.samples


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    result: Result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def cli_env(h: Harness, **extra: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": h.settings.kafka_servers,
        "REDIS_URL": h.settings.redis_dsn,
        "NIGHTLINE_TOPIC_PREFIX": h.prefix,
        "NIGHTLINE_STATE_DIR": str(h.log_dir),
        **extra,
    }


def publish_sample(env: dict[str, str]) -> str:
    """``publish --sample urgent``; returns the dispatch id it prints."""
    out = run(env, "publish", "--sample", "urgent")
    found = re.fullmatch(r"sent voice_call event (\S+); dispatch id (d-\S+)\n", out)
    assert found and found.group(2) == f"d-{found.group(1)}", out
    return found.group(2)


def pushes(env: dict[str, str], dispatch_id: str) -> list[tuple[str, int]]:
    rows = [json.loads(line) for line in run(env, "pushes").splitlines()]
    return [(r["clinician_id"], r["step"]) for r in rows if r["dispatch_id"] == dispatch_id]


def tail(env: dict[str, str], topic: str, dispatch_id: str) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in run(env, "tail", topic, "--timeout", "3").splitlines()]
    return [r for r in rows if dispatch_id in (r.get("dispatch_id"), r.get("subject_id"))]


def test_topics_create_makes_every_catalogue_topic_once(stack_settings: Settings) -> None:
    prefix = f"nltest-topics-{uuid.uuid4().hex[:8]}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": stack_settings.kafka_servers,
        "NIGHTLINE_TOPIC_PREFIX": prefix,
    }
    try:
        created = run(env, "topics", "create").split()
        assert sorted(created) == sorted(f"{prefix}.{spec.name}" for spec in CATALOGUE)
        assert run(env, "topics", "create") == "all topics exist\n"
    finally:
        admin = KafkaAdminClient(bootstrap_servers=stack_settings.kafka_servers)
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(f"{prefix}.")])
        admin.close()


def test_watching_a_dispatch_with_the_recording_gateway(own_harness: Harness) -> None:
    h = own_harness
    env = cli_env(h)
    assert run(env, "schedule", "load", str(DEMO), "--actor", "demo").startswith(
        "demo-peds revision 1: created"
    )
    levels = run(env, "schedule", "who", "demo-peds").splitlines()[1:]
    assert [line.split()[:3] for line in levels[:2]] == [
        ["1.", "primary", "dr-rivera"],
        ["2.", "backup", "np-chen"],
    ]
    for clinician, device in (("dr-rivera", "rivera-iphone"), ("np-chen", "chen-iphone")):
        run(env, "device", "register", "--clinician", clinician, "--device", device,
            "--platform", "ios", "--direct")  # fmt: skip
    h.start_worker()
    dispatch_id = publish_sample(env)
    wait_for(lambda: pushes(env, dispatch_id) == [("dr-rivera", 0)], 30, "the first page")
    assert run(env, "clock", "advance", "31") == "clock offset now 31.0 s\n"
    wait_for(lambda: len(pushes(env, dispatch_id)) == 2, 30, "the re-page after 30 s")
    assert pushes(env, dispatch_id) == [("dr-rivera", 0), ("dr-rivera", 1)]
    out = run(env, "ack", dispatch_id, "--clinician", "dr-rivera", "--kind", "accepted")
    assert out == f"sent accepted from dr-rivera for {dispatch_id}\n"
    wait_for(
        lambda: "accepted" in [s["to_status"] for s in tail(env, "dispatch.state", dispatch_id)],
        30,
        "the acceptance in dispatch.state",
    )
    timeline = tail(env, "audit", dispatch_id)
    assert [e["to_status"] for e in timeline][-1] == "accepted"
    text = json.dumps(timeline) + run(env, "pushes")
    assert PATIENT not in text and CALLBACK not in text and "fever" not in text


@pytest.fixture()
def demo_with_fakes(stack_settings: Settings, tmp_path: Path) -> Iterator[Harness]:
    """A deployment whose worker pushes through local fake APNs / FCM processes started
    as ``stack up`` starts them with ``NIGHTLINE_PUSH_GATEWAY=local-fakes``."""
    ports = {
        "NIGHTLINE_FAKE_APNS_PORT": str(free_port()),
        "NIGHTLINE_FAKE_FCM_PORT": str(free_port()),
    }
    h = Harness(stack_settings, tmp_path, {"NIGHTLINE_PUSH_GATEWAY": "local-fakes", **ports})
    fakes = h.settings.model_copy(
        update={
            "state_dir": tmp_path,
            "push_gateway": "local-fakes",
            "fake_apns_port": int(ports["NIGHTLINE_FAKE_APNS_PORT"]),
            "fake_fcm_port": int(ports["NIGHTLINE_FAKE_FCM_PORT"]),
        }
    )
    start_push_fakes(fakes)
    try:
        yield h
    finally:
        h.close()
        stop_push_fakes(fakes)


def test_the_demo_phones_receive_decrypt_and_answer(demo_with_fakes: Harness) -> None:
    h = demo_with_fakes
    env = cli_env(h, **h.extra_env)
    run(env, "schedule", "load", str(DEMO), "--actor", "demo")
    for clinician, device, platform in (
        ("dr-rivera", "rivera-iphone", "ios"),
        ("np-chen", "chen-pixel", "android"),
    ):  # as deploy/demo-phones.sh does
        run(env, "device", "register", "--clinician", clinician, "--device", device,
            "--platform", platform, "--direct")  # fmt: skip
    h.start_worker()
    dispatch_id = publish_sample(env)
    out = run(env, "device", "listen", "--device", "rivera-iphone", "--read", "--once",
              "--timeout", "60")  # fmt: skip
    assert out == f"{dispatch_id} (urgent): sent received, read\n"
    inbox = run(env, "device", "inbox", "--device", "rivera-iphone")
    assert dispatch_id in inbox and PATIENT in inbox  # the phone decrypted it
    run(env, "clock", "advance", "31")  # no acceptance: re-page dr-rivera
    wait_for(
        lambda: [s for s in tail(env, "dispatch.state", dispatch_id) if s["step"] == 1],
        30,
        "the re-page",
    )
    run(env, "clock", "advance", "31")  # still none: the backup np-chen
    out = run(env, "device", "listen", "--device", "chen-pixel", "--accept", "--once",
              "--timeout", "60")  # fmt: skip
    assert out == f"{dispatch_id} (urgent): sent received, accepted\n"
    wait_for(
        lambda: [
            s for s in tail(env, "dispatch.state", dispatch_id) if s["to_status"] == "accepted"
        ],
        30,
        "the backup's acceptance",
    )
    timeline = json.dumps(tail(env, "audit", dispatch_id))
    assert "np-chen" in timeline and PATIENT not in timeline and CALLBACK not in timeline
