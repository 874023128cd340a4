"""``NIGHTLINE_PUSH_GATEWAY=local-fakes``: the stack runs fake APNs / FCM processes,
``stack status`` shows them, and the worker's gateway, built from settings alone,
pushes to virtual phones through them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from redis.asyncio import Redis

from engine.adapters.dead_letters import DeadLetterWriter
from engine.adapters.push_setup import build_push
from engine.adapters.redis_directory import RedisDeviceDirectory
from engine.adapters.redis_keys import Keys
from engine.cli import main
from engine.fakes import MemoryPublisher
from engine.metrics import Metrics
from engine.ports import PushRequest
from engine.push.gateway import ProviderPushGateway
from engine.push.message_vault import MessageVault
from engine.push.payload import PushContent, alert_text_for
from engine.schemas.intake import Urgency
from engine.settings import Settings
from engine.stack import _process, stack_status
from engine.stack.push_fakes import (
    provider_settings,
    push_fakes_status,
    start_push_fakes,
    stop_push_fakes,
)
from engine.standins.fake_fcm import write_test_service_account
from engine.standins.virtual_device import VirtualDevice
from tests.integration.harness import free_port


@pytest.fixture()
def settings(stack_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    local = stack_settings.model_copy(
        update={
            "state_dir": tmp_path,
            "push_gateway": "local-fakes",
            "fake_apns_port": free_port(),
            "fake_fcm_port": free_port(),
            "topic_prefix": f"nltest-lf-{uuid.uuid4().hex[:8]}",
            "allow_generated_keys": True,  # the shared test stack counts as external
        }
    )
    yield local
    stop_push_fakes(local)


async def test_stack_fakes_carry_pushes_built_from_settings(settings: Settings) -> None:
    started = start_push_fakes(settings)
    assert {name for name, (_, reused) in started.items() if not reused} == {
        "fake-apns",
        "fake-fcm",
    }
    assert all(start_push_fakes(settings)[n][1] for n in started)  # a second up reuses them
    assert set(push_fakes_status(settings).values()) == {p for p, _ in started.values()}
    resolved = provider_settings(settings)
    assert resolved.push_gateway == "providers" and resolved.apns_ca_file is not None

    redis = Redis.from_url(settings.redis_dsn)
    keys = Keys(settings.topic_prefix)
    letters = DeadLetterWriter(MemoryPublisher(), MessageVault.generate_key().encode())
    gateway, vault = build_push(settings, redis, keys, Metrics(), letters)
    assert isinstance(gateway, ProviderPushGateway) and vault is not None
    directory = RedisDeviceDirectory(redis, keys)
    for platform in ("ios", "android"):
        phone = VirtualDevice("dr-ash", f"phone-{platform}", platform)
        await directory.register(phone.device)
        dispatch_id = f"d-{uuid.uuid4()}"
        await vault.put(
            PushContent(
                dispatch_id=dispatch_id,
                urgency=Urgency.URGENT,
                patient_name="Test Patient Delta",
                callback_number="+15555550123",
                message="Synthetic",
                practice_name="Demo",
            )
        )
        request = PushRequest(dispatch_id, phone.device, "urgent", 0, 1, alert_text_for("urgent"))
        result = await gateway.send(request)
        assert result.ok, result.detail
    await redis.aclose()

    stopped = stop_push_fakes(settings)
    assert all(stopped.values())
    assert not _process.port_open(settings.fake_apns_port)
    assert not _process.port_open(settings.fake_fcm_port)


def test_a_service_account_for_another_port_is_replaced(settings: Settings) -> None:
    """``fake_fcm_port`` changed since the last ``stack up``: the file written for the old
    port must not be loaded by the new fake (it would send tokens to the wrong port)."""
    path = provider_settings(settings).fcm_service_account_file
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    old_port = free_port()
    write_test_service_account(path, f"http://127.0.0.1:{old_port}/token")

    started = start_push_fakes(settings)

    assert not started["fake-fcm"][1]
    token_uri = json.loads(path.read_text())["token_uri"]
    assert token_uri == f"http://127.0.0.1:{settings.fake_fcm_port}/token"
    assert start_push_fakes(settings)["fake-fcm"][1]  # and the next `stack up` reuses it


def test_other_gateways_are_left_as_configured(stack_settings: Settings) -> None:
    recording = stack_settings.model_copy(update={"push_gateway": "recording"})
    assert provider_settings(recording) is recording


def test_stack_status_shows_the_fakes(settings: Settings) -> None:
    local = stack_status(settings)
    assert {local["fake-apns"]["error"], local["fake-fcm"]["error"]} == {"not running"}
    started = start_push_fakes(settings)
    running = stack_status(settings)
    for name, (pid, _) in started.items():
        port = settings.fake_apns_port if name == "fake-apns" else settings.fake_fcm_port
        assert running[name] == {"address": f"127.0.0.1:{port}", "mode": "local", "pid": pid,
                                 "healthy": True, "error": None}  # fmt: skip
    other_gateway = settings.model_copy(update={"push_gateway": "recording"})
    assert {"fake-apns", "fake-fcm"} <= stack_status(other_gateway).keys()  # they run
    stop_push_fakes(settings)
    assert not {"fake-apns", "fake-fcm"} & stack_status(other_gateway).keys()
    env = {k: str(v) for k, v in {
        "NIGHTLINE_STATE_DIR": settings.state_dir, "NIGHTLINE_PUSH_GATEWAY": "local-fakes",
        "NIGHTLINE_FAKE_APNS_PORT": settings.fake_apns_port,
        "NIGHTLINE_FAKE_FCM_PORT": settings.fake_fcm_port,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_servers, "REDIS_URL": settings.redis_dsn,
    }.items()}  # fmt: skip
    shown = CliRunner().invoke(main, ["stack", "status"], env=env)
    assert shown.exit_code == 1  # the gateway needs fakes that do not run
    assert "fake-apns" in shown.output and "DOWN: not running" in shown.output
