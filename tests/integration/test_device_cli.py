"""``nightline device`` against the real Redis and Kafka and both fake providers.

The fakes run as ``nightline fake-apns`` / ``nightline fake-fcm`` processes; pushes go
through the real ProviderPushGateway (ApnsClient / FcmClient) to phones registered
with the CLI; the phone decrypts them and its acknowledgements are read back from the
acks topic. Every patient detail here is synthetic.
"""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from click.testing import CliRunner, Result
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from redis.asyncio import Redis as AsyncRedis

from engine.adapters.redis_directory import RedisDeviceDirectory
from engine.adapters.redis_keys import Keys
from engine.cli import main
from engine.handlers.devices import apply_device_change
from engine.ports import Device, PushRequest
from engine.push.apns import ApnsClient
from engine.push.apns_token import ApnsTokenProvider, load_p8_key
from engine.push.fcm import FcmClient
from engine.push.fcm_auth import AccessTokenProvider, ServiceAccount
from engine.push.gateway import ProviderPushGateway
from engine.push.payload import PushContent
from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.catalogue import spec
from engine.schemas.codec import decode
from engine.schemas.devices import DeviceAction, DeviceRegistration
from engine.schemas.intake import Urgency
from engine.settings import Settings
from engine.standins.virtual_device import VirtualDevice

pytestmark = pytest.mark.integration

KEY_ID, TEAM_ID, TOPIC = "DEVCLIKEY1", "DEVCLITEAM", "org.nightline.clinician"
PATIENT, CALLBACK = "Test Patient Alpha", "+1 555-0100"
MESSAGE = "Synthetic message: fever 39.5 since noon"


@dataclass
class Fakes:
    apns_url: str
    ca_file: Path
    key_file: Path
    fcm_url: str
    service_account: Path


def _start(args: list[str], log: Path, ready: str) -> tuple[subprocess.Popen[str], str]:
    """Run ``nightline ARGS`` and return the process and its 'listening on' line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args],
        stdout=subprocess.PIPE, stderr=log.open("ab"), text=True, start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the fake is listening (or exits)
    if ready not in line:
        process.kill()
        raise AssertionError(f"{args[0]} did not start: {log.read_text()[-2000:]}")
    return process, line


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fakes]:
    d = tmp_path_factory.mktemp("device-cli-fakes")
    apns, line = _start(
        ["fake-apns", "--cert-dir", str(d / "certs"), "--key-file", str(d / "key.p8"),
         "--key-id", KEY_ID, "--team-id", TEAM_ID, "--topic", TOPIC],
        d / "fake-apns.log", "fake-apns listening on",
    )  # fmt: skip
    url, ca = line.split(" on ")[1].split(" ca=")
    try:
        fcm, fcm_line = _start(
            ["fake-fcm", "--service-account-file", str(d / "sa.json")],
            d / "fake-fcm.log", "fake-fcm listening on",
        )  # fmt: skip
    except AssertionError:
        apns.kill()
        raise
    fcm_url = fcm_line.split("listening on ")[1].split()[0]
    yield Fakes(url, Path(ca.strip()), d / "key.p8", fcm_url, d / "sa.json")
    for process in (apns, fcm):
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def prefix(stack_settings: Settings) -> Iterator[str]:
    """A topic prefix and Redis key prefix of this module's own; removed afterwards."""
    name = f"test-devcli-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(stack_settings.redis_dsn)
    keys = list(client.scan_iter(match=f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()
    admin = KafkaAdminClient(bootstrap_servers=stack_settings.kafka_servers)
    topics = [t for t in admin.list_topics() if t.startswith(f"{name}.")]
    if topics:
        admin.delete_topics(topics)
    admin.close()


@pytest.fixture()
def env(stack_settings: Settings, fakes: Fakes, prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": stack_settings.kafka_servers,
        "REDIS_URL": stack_settings.redis_dsn,
        "NIGHTLINE_TOPIC_PREFIX": prefix,
        "NIGHTLINE_STATE_DIR": str(tmp_path / "state"),
        "NIGHTLINE_APNS_URL": fakes.apns_url,
        "NIGHTLINE_APNS_CA_FILE": str(fakes.ca_file),
        "NIGHTLINE_FCM_URL": fakes.fcm_url,
    }


def cli(env: dict[str, str], *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, ["device", *args], env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def registry(settings: Settings, prefix: str, action: Callable[[RedisDeviceDirectory], Any]) -> Any:
    async def run() -> Any:
        client = AsyncRedis.from_url(settings.redis_dsn)
        try:
            return await action(RedisDeviceDirectory(client, Keys(prefix)))
        finally:
            await client.aclose()

    return asyncio.run(run())


def stored(settings: Settings, prefix: str, clinician: str, device_id: str) -> Device | None:
    return registry(settings, prefix, lambda d: d.get(clinician, device_id))


def state(env: dict[str, str], device_id: str) -> Path:
    return (
        Path(env["NIGHTLINE_STATE_DIR"]) / "devices" / env["NIGHTLINE_TOPIC_PREFIX"]
        / f"{device_id}.json"
    )  # fmt: skip


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


class Messages:
    """The gateway's message source: synthetic content for any dispatch id."""

    async def get(self, dispatch_id: str) -> PushContent:
        return PushContent(
            dispatch_id=dispatch_id, urgency=Urgency.URGENT, patient_name=PATIENT,
            callback_number=CALLBACK, message=MESSAGE, practice_name="Synthetic Pediatrics",
        )  # fmt: skip


def page(
    settings: Settings, prefix: str, fakes: Fakes, device: Device, dispatch_id: str, number: int = 1
) -> None:
    """Push page ``number`` of ``dispatch_id`` to ``device`` through the real gateway and
    provider clients."""

    async def run() -> None:
        client = AsyncRedis.from_url(settings.redis_dsn)
        tokens = ApnsTokenProvider(load_p8_key(fakes.key_file), KEY_ID, TEAM_ID, client,
                                   key_prefix=f"{prefix}:apns:token")  # fmt: skip
        account = ServiceAccount.from_file(fakes.service_account)
        async with (
            httpx.AsyncClient() as http,
            ApnsClient(fakes.apns_url, TOPIC, tokens, verify=str(fakes.ca_file)) as apns,
        ):
            fcm = FcmClient(fakes.fcm_url, account.project_id, AccessTokenProvider(account, http))
            directory = RedisDeviceDirectory(client, Keys(prefix))
            gateway = ProviderPushGateway(Messages(), directory, apns, fcm)
            request = PushRequest(
                dispatch_id, device, "urgent", step=0, attempt=1, alert_text="", page=number
            )
            result = await gateway.send(request)
        await client.aclose()
        assert result.ok, result.detail

    asyncio.run(run())


def read_topic(settings: Settings, topic: str, want: Callable[[list[Any]], bool]) -> list[Any]:
    """Events of ``topic`` (decoded) once ``want(events)`` holds; fails after 15 s."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    events: list[Any] = []
    deadline = time.monotonic() + 15
    try:
        while not want(events):
            assert time.monotonic() < deadline, f"{topic}: only {events}"
            for records in consumer.poll(timeout_ms=200).values():
                name = topic.split(".", 1)[1]
                events += [decode(spec(name).adapter, r.value) for r in records]
    finally:
        consumer.close()
    return events


# --- the registry ----------------------------------------------------------------------
def test_register_direct_keeps_private_state_and_registers_public_half(
    env: dict[str, str], stack_settings: Settings, prefix: str
) -> None:
    doc, phone = unique("dr-ames"), unique("phone")
    out = cli(env, "register", "--clinician", doc, "--device", phone, "--platform", "ios",
              "--critical-alerts", "--direct").output  # fmt: skip
    path = state(env, phone)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    device = stored(stack_settings, prefix, doc, phone)
    assert device is not None and device.active and device.critical_alerts
    assert (device.platform, device.push_token) == ("ios", saved["push_token"])
    assert device.auth_secret == saved["auth_secret"] and device.public_key
    assert saved["private_key"] not in json.dumps(device.__dict__)
    assert saved["auth_secret"] not in out and saved["private_key"] not in out


def test_list_shows_the_registry_view_without_secrets(
    env: dict[str, str], stack_settings: Settings, prefix: str
) -> None:
    doc, ios, android = unique("dr-birch"), unique("ios"), unique("android")
    cli(env, "register", "--clinician", doc, "--device", ios, "--platform", "ios", "--direct")
    cli(env, "register", "--clinician", doc, "--device", android, "--platform", "android",
        "--app-version", "2.3.4", "--direct")  # fmt: skip
    registry(stack_settings, prefix, lambda d: d.deactivate(doc, ios, "apns 410 Unregistered"))
    lines = cli(env, "list", "--clinician", doc).output.splitlines()
    assert lines[0].split("\t")[:3] == ["DEVICE", "PLATFORM", "ACTIVE"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert rows[android][1:4] == ["android", "yes", "2.3.4"] and rows[android][5] == "-"
    assert rows[ios][1:3] == ["ios", "no"] and rows[ios][5] == "apns 410 Unregistered"
    for device_id in (ios, android):
        secret = json.loads(state(env, device_id).read_text())["auth_secret"]
        assert secret not in "\n".join(lines)
    assert "no devices" in cli(env, "list", "--clinician", unique("dr-nobody")).output


def test_register_direct_of_a_device_id_another_clinician_holds_fails(
    env: dict[str, str], stack_settings: Settings, prefix: str
) -> None:
    owner, other, phone = unique("dr-bay"), unique("dr-mallory"), unique("phone")
    cli(env, "register", "--clinician", owner, "--device", phone, "--platform", "ios", "--direct")
    before = stored(stack_settings, prefix, owner, phone)
    out = cli(env, "register", "--clinician", other, "--device", phone, "--platform", "ios",
              "--direct", code=1).output  # fmt: skip
    assert f"device '{phone}' belongs to another clinician; nothing changed" in out
    assert stored(stack_settings, prefix, owner, phone) == before
    assert stored(stack_settings, prefix, other, phone) is None


def test_rotate_token_direct_reactivates_and_updates_the_phone(
    env: dict[str, str], stack_settings: Settings, prefix: str
) -> None:
    doc, phone = unique("dr-cedar"), unique("phone")
    cli(env, "register", "--clinician", doc, "--device", phone, "--platform", "android", "--direct")
    registry(stack_settings, prefix, lambda d: d.deactivate(doc, phone, "fcm UNREGISTERED"))
    cli(env, "rotate-token", "--device", phone, "--token", "fresh-token-0001", "--direct")
    device = stored(stack_settings, prefix, doc, phone)
    assert device is not None and device.push_token == "fresh-token-0001" and device.active
    assert json.loads(state(env, phone).read_text())["push_token"] == "fresh-token-0001"
    cli(env, "rotate-token", "--device", phone, "--direct")  # a random new token
    device = stored(stack_settings, prefix, doc, phone)
    assert device is not None and device.push_token not in ("fresh-token-0001", "")
    assert json.loads(state(env, phone).read_text())["push_token"] == device.push_token


def test_reactivate_one_device(env: dict[str, str], stack_settings: Settings, prefix: str) -> None:
    doc, phone = unique("dr-gum"), unique("phone")
    cli(env, "register", "--clinician", doc, "--device", phone, "--platform", "ios", "--direct")
    registry(stack_settings, prefix, lambda d: d.deactivate(doc, phone, "apns 400 BadDeviceToken"))
    out = cli(env, "reactivate", "--clinician", doc, "--device", phone).output
    assert out == f"reactivated {phone} of {doc}\n"
    device = stored(stack_settings, prefix, doc, phone)
    assert device is not None and device.active
    assert "has no device" in cli(env, "reactivate", "--clinician", doc, "--device",
                                  unique("none"), code=1).output  # fmt: skip
    assert (
        "give --clinician and --device, or --all"
        in cli(env, "reactivate", "--device", phone, code=2).output
    )


def test_reactivate_all_is_a_dry_run_until_yes_and_filters(
    env: dict[str, str], stack_settings: Settings, prefix: str
) -> None:
    marker = unique("mixup")  # other tests of this module deactivate devices too
    docs = [unique("dr-hazel"), unique("dr-ivy")]
    phones = [unique("phone") for _ in range(4)]
    owners = [docs[0], docs[0], docs[1], docs[1]]
    for doc, phone in zip(owners, phones, strict=True):
        cli(env, "register", "--clinician", doc, "--device", phone, "--platform", "ios", "--direct")
    mixup = f"apns 400 BadDeviceToken {marker}"
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)

    async def deactivate(directory: RedisDeviceDirectory) -> None:
        await directory.deactivate(owners[0], phones[0], mixup)
        await directory.deactivate(owners[2], phones[2], mixup)
        await directory.deactivate(owners[3], phones[3], f"apns 410 Unregistered {marker}")
        old = RedisDeviceDirectory(directory._redis, directory._keys, now=lambda: long_ago)
        await old.deactivate(owners[1], phones[1], mixup)

    registry(stack_settings, prefix, deactivate)
    dry = cli(env, "reactivate", "--all", "--reason-contains", f"BadDeviceToken {marker}",
              "--since", "2h").output.splitlines()  # fmt: skip
    assert [line.split("\t")[:2] for line in dry[:-1]] == [
        [owners[0], phones[0]],
        [owners[2], phones[2]],
    ]
    assert dry[0].split("\t")[3] == mixup
    assert dry[-1] == "dry run: 2 device(s) would be reactivated; add --yes to do it"
    active = [stored(stack_settings, prefix, o, p) for o, p in zip(owners, phones, strict=True)]
    assert [d.active for d in active if d is not None] == [False] * 4  # nothing changed yet
    done = cli(env, "reactivate", "--all", "--reason-contains", f"BadDeviceToken {marker}",
               "--since", "2h", "--yes").output  # fmt: skip
    assert done.endswith("reactivated 2 device(s)\n")
    active = [stored(stack_settings, prefix, o, p) for o, p in zip(owners, phones, strict=True)]
    assert [d.active for d in active if d is not None] == [True, False, True, False]
    mine = cli(env, "reactivate", "--all", "--clinician", docs[0], "--yes").output
    assert mine.endswith("reactivated 1 device(s)\n")  # the one deactivated long ago
    assert (
        "use a number and s, m, h or d"
        in cli(env, "reactivate", "--all", "--since", "soon", code=2).output
    )


def test_rotate_token_of_a_device_missing_from_the_registry_fails(
    env: dict[str, str], stack_settings: Settings, prefix: str
) -> None:
    doc, phone = unique("dr-dove"), unique("phone")
    cli(env, "register", "--clinician", doc, "--device", phone, "--platform", "ios", "--direct")
    registry(stack_settings, prefix, lambda d: d.remove(doc, phone))
    before = json.loads(state(env, phone).read_text())["push_token"]
    out = cli(env, "rotate-token", "--device", phone, "--direct", code=1).output
    assert "not in the registry" in out
    assert json.loads(state(env, phone).read_text())["push_token"] == before
    assert stored(stack_settings, prefix, doc, phone) is None


def test_remove_direct_deletes_the_record_and_the_phone_state(
    env: dict[str, str], stack_settings: Settings, prefix: str
) -> None:
    doc, phone = unique("dr-elm"), unique("phone")
    cli(env, "register", "--clinician", doc, "--device", phone, "--platform", "ios", "--direct")
    assert stored(stack_settings, prefix, doc, phone) is not None
    cli(env, "remove", "--device", phone, "--direct")
    assert stored(stack_settings, prefix, doc, phone) is None
    assert not state(env, phone).exists()
    assert "no phone" in cli(env, "remove", "--device", phone, "--direct", code=1).output


def test_deployments_sharing_a_state_dir_keep_their_own_phones(
    env: dict[str, str], stack_settings: Settings, prefix: str
) -> None:
    other = {**env, "NIGHTLINE_TOPIC_PREFIX": f"{prefix}:b"}  # cleaned up with prefix:*
    doc, phone = unique("dr-gale"), unique("phone")
    for deployment in (env, other):
        cli(deployment, "register", "--clinician", doc, "--device", phone, "--platform", "ios",
            "--direct")  # fmt: skip
    mine, theirs = (
        json.loads(state(env, phone).read_text()),
        json.loads(state(other, phone).read_text()),
    )
    assert mine["private_key"] != theirs["private_key"]
    device = stored(stack_settings, prefix, doc, phone)
    assert device is not None and device.push_token == mine["push_token"]
    cli(env, "remove", "--device", phone, "--direct")
    assert not state(env, phone).exists() and state(other, phone).exists()


def test_a_phone_kept_in_the_old_place_moves_to_its_deployment(
    env: dict[str, str], stack_settings: Settings, prefix: str
) -> None:
    doc, phone_id = unique("dr-hazel"), unique("phone")
    old = Path(env["NIGHTLINE_STATE_DIR"]) / "devices" / f"{phone_id}.json"
    phone = VirtualDevice(doc, phone_id, "android")
    phone.save(old)
    registry(stack_settings, prefix, lambda d: d.register(phone.device))
    result = cli(env, "rotate-token", "--device", phone_id, "--token", "moved-0001", "--direct")
    assert f"moved {old}" in result.stderr
    assert not old.exists()
    kept = json.loads(state(env, phone_id).read_text())
    assert (
        kept["push_token"] == "moved-0001"
        and kept["private_key"] == json.loads(phone.to_json())["private_key"]
    )


def test_register_through_kafka_publishes_the_public_half_and_times_out_without_worker(
    env: dict[str, str], stack_settings: Settings, prefix: str
) -> None:
    doc, phone = unique("dr-fir"), unique("phone")
    out = cli(env, "register", "--clinician", doc, "--device", phone, "--platform", "android",
              "--wait", "0.5", code=1).output  # fmt: skip
    assert "no worker applied it" in out
    saved = json.loads(state(env, phone).read_text())

    def mine(events: list[Any]) -> list[DeviceRegistration]:
        return [e for e in events if e.device_id == phone]

    [event] = mine(read_topic(stack_settings, f"{prefix}.devices", mine))
    assert (event.action, event.clinician_id, event.platform) == (
        DeviceAction.REGISTER, doc, "android",
    )  # fmt: skip
    assert (event.push_token, event.auth_secret) == (saved["push_token"], saved["auth_secret"])
    assert saved["private_key"] not in event.model_dump_json()
    assert stored(stack_settings, prefix, doc, phone) is None


def test_rotate_token_through_kafka_keeps_the_new_token_when_the_wait_runs_out(
    env: dict[str, str], stack_settings: Settings, prefix: str
) -> None:
    doc, phone = unique("dr-fig"), unique("phone")
    cli(env, "register", "--clinician", doc, "--device", phone, "--platform", "ios", "--direct")
    out = cli(env, "rotate-token", "--device", phone, "--token", "cd" * 32, "--wait", "0.5",
              code=1).output  # fmt: skip
    assert "no worker applied it" in out
    # the change stays in the topic for the worker: the phone already has the new token
    assert json.loads(state(env, phone).read_text())["push_token"] == "cd" * 32

    def mine(events: list[Any]) -> list[DeviceRegistration]:
        return [e for e in events if e.device_id == phone]

    [event] = mine(read_topic(stack_settings, f"{prefix}.devices", mine))
    assert (event.action, event.push_token) == (DeviceAction.ROTATE_TOKEN, "cd" * 32)


def _stand_in_worker(settings: Settings, prefix: str, stop: threading.Event) -> None:
    """Apply DeviceRegistrations from the devices topic (slowly), as the worker agent does."""
    topic = f"{prefix}.devices"
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    try:
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=100).values():
                for r in records:
                    change = decode(spec("devices").adapter, r.value)
                    time.sleep(0.5)  # a slow worker: the CLI must really wait for it
                    registry(settings, prefix, lambda d, c=change: apply_device_change(d, c))
    finally:
        consumer.close()


def test_register_rotate_remove_through_kafka_wait_for_the_worker(
    env: dict[str, str], stack_settings: Settings, prefix: str
) -> None:
    doc, phone = unique("dr-gum"), unique("phone")
    cli(env, "register", "--clinician", doc, "--device", unique("x"), "--platform", "ios",
        "--wait", "0.1", code=1)  # fmt: skip  # makes sure the topics exist
    stop = threading.Event()
    worker = threading.Thread(target=_stand_in_worker, args=(stack_settings, prefix, stop))
    worker.start()
    try:
        out = cli(env, "register", "--clinician", doc, "--device", phone, "--platform", "ios")
        assert "through the devices topic" in out.output
        saved = json.loads(state(env, phone).read_text())
        device = stored(stack_settings, prefix, doc, phone)
        assert device is not None and device.auth_secret == saved["auth_secret"]
        cli(env, "rotate-token", "--device", phone, "--token", "ab" * 32)
        device = stored(stack_settings, prefix, doc, phone)
        assert device is not None and device.push_token == "ab" * 32
        cli(env, "remove", "--device", phone)
        assert stored(stack_settings, prefix, doc, phone) is None
    finally:
        stop.set()
        worker.join(10)


# --- the phone's screen and its acknowledgements ------------------------------------
@pytest.mark.parametrize("platform", ["ios", "android"])
def test_inbox_shows_decrypted_pushes_for_this_phone_only(
    env: dict[str, str], stack_settings: Settings, prefix: str, fakes: Fakes, platform: str
) -> None:
    doc, phone, other = unique("dr-hazel"), unique("phone"), unique("other")
    for device_id in (phone, other):
        cli(env, "register", "--clinician", doc, "--device", device_id, "--platform", platform,
            "--direct")  # fmt: skip
    assert "no pushes" in cli(env, "inbox", "--device", phone).output
    dispatch_id = unique("d")
    device = stored(stack_settings, prefix, doc, phone)
    assert device is not None
    page(stack_settings, prefix, fakes, device, dispatch_id)
    [line] = cli(env, "inbox", "--device", phone).output.splitlines()
    assert line.startswith(f"{dispatch_id}  urgent  'Urgent message - open to view'")
    for value in (PATIENT, CALLBACK, MESSAGE, "Synthetic Pediatrics"):
        assert repr(value) in line
    assert dispatch_id not in cli(env, "inbox", "--device", other).output


@pytest.mark.parametrize(
    ("platform", "flags", "kinds"),
    [
        ("ios", ["--accept"], [AckKind.RECEIVED, AckKind.ACCEPTED]),
        ("android", ["--read", "--decline"], [AckKind.RECEIVED, AckKind.READ, AckKind.DECLINED]),
    ],
)
def test_listen_once_sends_acks_to_kafka_and_remembers_the_push(
    env: dict[str, str], stack_settings: Settings, prefix: str, fakes: Fakes,
    platform: str, flags: list[str], kinds: list[AckKind],
) -> None:  # fmt: skip
    doc, phone, dispatch_id = unique("dr-iris"), unique("phone"), unique("d")
    cli(env, "register", "--clinician", doc, "--device", phone, "--platform", platform, "--direct")
    device = stored(stack_settings, prefix, doc, phone)
    assert device is not None
    page(stack_settings, prefix, fakes, device, dispatch_id)
    page(stack_settings, prefix, fakes, device, dispatch_id)  # a provider's retry: acked once
    before = datetime.now(UTC)
    out = cli(env, "listen", "--device", phone, "--once", "--timeout", "15", *flags).output
    after = datetime.now(UTC)
    assert out.strip() == f"{dispatch_id} (urgent): sent {', '.join(k.value for k in kinds)}"
    assert PATIENT not in out

    def acks(events: list[Any]) -> list[Acknowledgement]:
        return [e for e in events if e.dispatch_id == dispatch_id]

    found = acks(read_topic(stack_settings, f"{prefix}.acks", lambda e: len(acks(e)) >= len(kinds)))
    assert [a.kind for a in found] == kinds
    assert {(a.clinician_id, a.device_id, a.page) for a in found} == {(doc, phone, 1)}
    assert all(before <= a.at <= after for a in found)  # stamped when the phone sent them
    handled = json.loads(state(env, phone).read_text())["handled"]
    assert handled == [dispatch_id, f"{dispatch_id}#1"]
    page(stack_settings, prefix, fakes, device, dispatch_id, number=2)  # the re-page
    out = cli(env, "listen", "--device", phone, "--once", "--timeout", "15", *flags).output
    assert out.strip() == f"{dispatch_id} (urgent): sent received"  # its receipt, nothing else
    found = acks(read_topic(stack_settings, f"{prefix}.acks", lambda e: len(acks(e)) > len(kinds)))
    assert (found[-1].kind, found[-1].page) == (AckKind.RECEIVED, 2)
    out = cli(env, "listen", "--device", phone, "--once", "--timeout", "0.5", code=1).output
    assert f"no new push for {phone} within 0.5 s" in out
