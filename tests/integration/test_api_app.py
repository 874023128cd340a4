"""The clinician app through the API, end to end on the real Kafka and Redis, a real
worker and the fake APNs: a call posted to the ingest is paged to a phone that
registered through the API; the app lists it, fetches the message encrypted to its
own key, accepts it, and the escalation stops. Nobody else can read it."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pyotp
import pytest

from engine.settings import Settings
from engine.standins.virtual_device import VirtualDevice
from tests.integration import scenario_data as data
from tests.integration.api_client import RunningApi, api_settings, create_account, running_api
from tests.integration.harness import Harness, wait_for
from tests.integration.push_fakes import PushFakes

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushFakes]:
    fakes = PushFakes(tmp_path_factory.mktemp("push-fakes"))
    yield fakes
    fakes.close()


@pytest.fixture(scope="module")
def h(
    stack_settings: Settings, fakes: PushFakes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    harness = Harness(stack_settings, tmp_path_factory.mktemp("app-worker"), fakes.env())
    harness.start_worker()
    yield harness
    harness.close()


@pytest.fixture()
async def api(h: Harness) -> AsyncIterator[RunningApi]:
    async with running_api(api_settings(h.settings, h.log_dir)) as running:
        yield running


async def _clinician(api: RunningApi, clinician_id: str, device_id: str) -> dict[str, str]:
    name, _ = await create_account(
        api.services, "clin", {"clinician"}, {"p-app"}, clinician_id=clinician_id
    )
    answer = await api.client.post(
        "/v1/auth/sign-in",
        json={"username": name, "password": PASSWORD, "device_id": device_id},
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    return {"Authorization": f"Bearer {token}", "X-Device-Id": device_id}


async def _eventually(check: Any, timeout: float, what: str) -> Any:
    for _ in range(int(timeout / 0.2)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_phone_registers_reads_and_accepts_through_the_api(
    h: Harness, fakes: PushFakes, api: RunningApi
) -> None:
    h.load_practice(data.practice("p-app", timeout_s=2, repeats=1), [])
    phone = VirtualDevice("dr-ash", "ash-phone-1", "ios")
    ash = await _clinician(api, "dr-ash", phone.device_id)
    device = phone.device
    registered = await api.client.post(
        "/v1/app/devices",
        json={
            "device_id": device.device_id,
            "platform": "ios",
            "push_token": device.push_token,
            "public_key": device.public_key,
            "auth_secret": device.auth_secret,
            "app_version": "1.0",
        },
        headers=ash,
    )
    assert registered.status_code == 202, registered.text

    async def listed() -> list[Any]:
        answer = await api.client.get("/v1/app/devices", headers=ash)
        return [d for d in answer.json() if d["device_id"] == phone.device_id]

    await _eventually(listed, 15, "the device registered by the worker")

    key = await api.integration_key("p-app")
    event = json.loads(data.urgent_call("p-app").model_dump_json())
    posted = await api.client.post("/v1/intake", json=event, headers={"X-Api-Key": key})
    assert posted.status_code == 202
    dispatch_id = posted.json()["dispatch_id"]

    async def mine() -> list[Any]:
        answer = await api.client.get("/v1/app/dispatches", headers=ash)
        return [d for d in answer.json() if d["dispatch_id"] == dispatch_id]

    summary = (await _eventually(mine, 15, "the dispatch in the app's list"))[0]
    assert summary["open"] and summary["page"] >= 1

    detail = await api.client.get(f"/v1/app/dispatches/{dispatch_id}", headers=ash)
    assert detail.status_code == 200, detail.text
    sealed = detail.json()["message"]["ciphertext"]
    for phi in (data.SYNTHETIC_PATIENT, data.SYNTHETIC_CALLBACK):
        assert phi not in detail.text
    opened = phone.open(sealed)
    assert opened["patient_name"] == data.SYNTHETIC_PATIENT
    assert opened["message"] == data.SYNTHETIC_MESSAGE

    birch = await _clinician(api, "dr-birch", "birch-phone")
    assert (
        await api.client.get(f"/v1/app/dispatches/{dispatch_id}", headers=birch)
    ).status_code == 404
    stolen = {**ash, "X-Device-Id": "birch-phone"}
    assert (
        await api.client.get(f"/v1/app/dispatches/{dispatch_id}", headers=stolen)
    ).status_code == 401

    accepted = await api.client.post(
        f"/v1/app/dispatches/{dispatch_id}/acks", json={"kind": "accepted"}, headers=ash
    )
    assert accepted.status_code == 202

    def state() -> Any:
        found = [s for s in h.read("dispatch.state") if s.dispatch_id == dispatch_id]
        return found[-1] if found and found[-1].to_status == "accepted" else None

    wait_for(state, 15, "the dispatch accepted")
    pushes_now = len([r for r in fakes.apns_received() if r.get("token") == device.push_token])
    await asyncio.sleep(5)  # past the 2 s timeout and its re-page: nothing more is sent
    pushes_later = len([r for r in fakes.apns_received() if r.get("token") == device.push_token])
    assert pushes_later == pushes_now
    viewed = wait_for(
        lambda: [
            a
            for a in h.read("audit")
            if a.subject_id == dispatch_id and a.action == "message_viewed"
        ],
        15,
        "the view in the audit",
    )
    assert viewed[0].actor == "dr-ash" and viewed[0].detail == f"device={phone.device_id}"

    name, secret = await create_account(
        api.services, "admin", {"practice_admin"}, {"p-app"}, totp=True
    )
    assert secret is not None
    signed = await api.client.post(
        "/v1/auth/sign-in",
        json={"username": name, "password": PASSWORD, "totp": pyotp.TOTP(secret).now()},
    )
    admin = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    content_url = f"/v1/admin/practices/p-app/messages/{dispatch_id}/content"

    async def shown() -> Any:
        answer = await api.client.get(content_url, headers=admin)
        return answer if answer.status_code == 200 else None

    content = await _eventually(shown, 15, "the read model knowing the dispatch")
    assert content.json()["patient_name"] == data.SYNTHETIC_PATIENT
    account = await api.services.accounts.by_username(name)
    assert account is not None
    wait_for(
        lambda: [
            a for a in h.read("audit")
            if a.subject_id == dispatch_id and a.actor == account.account_id
            and a.action == "message_viewed"
        ],
        15,
        "the administrator's view in the audit",
    )  # fmt: skip


async def test_a_device_key_that_is_no_curve_point_is_a_422(h: Harness, api: RunningApi) -> None:
    phone = VirtualDevice("dr-ash", "ash-phone-2", "ios")
    ash = await _clinician(api, "dr-ash", phone.device_id)
    body = {
        "device_id": phone.device_id,
        "platform": "ios",
        "push_token": phone.device.push_token,
        "public_key": "A" * 87,
        "auth_secret": phone.device.auth_secret,
    }
    answer = await api.client.post("/v1/app/devices", json=body, headers=ash)
    assert answer.status_code == 422, answer.text
    assert "A" * 20 not in answer.text


async def test_the_virtual_phone_in_api_mode_registers_and_accepts_through_the_api(
    h: Harness, fakes: PushFakes, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from engine.cli import main
    from tests.integration.api_client import serving_api

    h.load_practice(data.practice("p-app-cli", timeout_s=30, repeats=1), [])
    async with serving_api(api_settings(h.settings, h.log_dir)) as api:
        name, _ = await create_account(
            api.services, "clin", {"clinician"}, {"p-app-cli"}, clinician_id="dr-ash"
        )
        for key in [k for k in os.environ if k.startswith("NIGHTLINE_")]:
            monkeypatch.delenv(key)
        env = {
            **fakes.env(),
            "KAFKA_BOOTSTRAP_SERVERS": h.settings.kafka_servers,
            "REDIS_URL": h.settings.redis_dsn,
            "NIGHTLINE_TOPIC_PREFIX": h.prefix,
            "NIGHTLINE_STATE_DIR": str(tmp_path),
            "NIGHTLINE_DEVICE_PASSWORD": PASSWORD,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        api_flags = ["--api", str(api.client.base_url), "--username", name]
        runner = CliRunner()
        registered = await asyncio.to_thread(
            runner.invoke, main,
            ["device", "register", "--clinician", "dr-ash", "--device", "ash-cli", "--platform",
             "ios", *api_flags],
        )  # fmt: skip
        assert registered.exit_code == 0, registered.output
        assert "through the API" in registered.output

        async def known() -> bool:
            return await api.services.devices.get("dr-ash", "ash-cli") is not None

        await _eventually(known, 15, "the worker registering the phone")
        call = data.urgent_call("p-app-cli")
        h.producer.send_intake(call)
        dispatch_id = f"d-{call.event_id}"
        listened = await asyncio.to_thread(
            runner.invoke, main,
            ["device", "listen", "--device", "ash-cli", "--accept", "--once", "--timeout", "20",
             *api_flags],
        )  # fmt: skip
        assert listened.exit_code == 0, listened.output
        assert dispatch_id in listened.output and "accepted" in listened.output

        def accepted() -> Any:
            found = [s for s in h.read("dispatch.state") if s.dispatch_id == dispatch_id]
            return found and found[-1].to_status == "accepted"

        wait_for(accepted, 15, "the acceptance sent through the API")
        acks = [a for a in h.read("acks") if a.dispatch_id == dispatch_id]
        assert {a.device_id for a in acks} == {"ash-cli"}
