"""The pipeline through the fake APNs and FCM (separate processes, real protocols)
with virtual phones that register, decrypt, send receipts and accept or decline:
dead tokens, receipt deadlines, an invalid message and a provider outage."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from engine.handlers.intake import dispatch_id_for
from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.devices import DeviceAction, DeviceRegistration
from engine.settings import Settings
from engine.standins.phone import open_pushes, select_bodies
from engine.standins.virtual_device import VirtualDevice
from tests.integration import scenario_data as data
from tests.integration.harness import Harness, wait_for
from tests.integration.push_fakes import PushFakes

PHI = (data.SYNTHETIC_PATIENT, data.SYNTHETIC_CALLBACK, "Fever 39.9", "dizzy")


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushFakes]:
    fakes = PushFakes(tmp_path_factory.mktemp("push-fakes"))
    yield fakes
    fakes.close()


@pytest.fixture(scope="module")
def h(
    stack_settings: Settings, fakes: PushFakes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    env = {**fakes.env(), "NIGHTLINE_RECEIPT_TIMEOUT_S": "20", "NIGHTLINE_PUSH_DEADLINE_S": "3"}
    harness = Harness(stack_settings, tmp_path_factory.mktemp("push-worker"), env)
    harness.start_worker()
    yield harness
    harness.close()


def phone(clinician: str, platform: str) -> VirtualDevice:
    return VirtualDevice(clinician, f"{clinician}-{platform}", platform)


def two_levels(
    h: Harness, practice_id: str, primary: VirtualDevice, backup: VirtualDevice, timeout_s: int
) -> None:
    """A practice whose primary and backup are the owners of these two phones."""
    practice = data.practice(
        practice_id,
        timeout_s=timeout_s,
        primary=(primary.clinician_id,),
        backup=(backup.clinician_id,),
    )
    h.load_practice(practice, [primary.device, backup.device])


def inbox(fakes: PushFakes, device: VirtualDevice, dispatch_id: str) -> list[dict[str, Any]]:
    """What ``device`` received for ``dispatch_id``, decrypted by the phone's own code."""
    received = fakes.received(device.platform)
    bodies = select_bodies(device.platform, device.push_token, received)
    opened = [p for p in open_pushes(device, bodies) if p.dispatch_id == dispatch_id]
    for push in opened:  # a push the phone cannot open is a failure, not an empty inbox
        assert "decrypt" not in push.problem, f"{dispatch_id}: {push.problem}"
    return [push.content for push in opened if push.content is not None]


def ack(h: Harness, device: VirtualDevice, dispatch_id: str, kind: AckKind, page: int = 1) -> None:
    """What the app sends for page ``page`` of ``dispatch_id``."""
    h.producer.send_ack(
        Acknowledgement(
            dispatch_id=dispatch_id,
            clinician_id=device.clinician_id,
            device_id=device.device_id,
            kind=kind,
            page=page,
            at=datetime.now(UTC),
        )
    )


def states(h: Harness, dispatch_id: str) -> list[str]:
    return [e.to_status for e in h.read("dispatch.state") if e.dispatch_id == dispatch_id]


def call(h: Harness, practice_id: str) -> str:
    event = data.urgent_call(practice_id)
    h.producer.send_intake(event)
    return dispatch_id_for(event.event_id)


def test_a_ios_phone_decrypts_sends_receipt_and_accepts(h: Harness, fakes: PushFakes) -> None:
    ash, birch = phone("dr-ash", "ios"), phone("dr-birch", "android")
    h.load_practice(data.practice("p-pa", timeout_s=60, repeats=0), [ash.device, birch.device])
    dispatch_id, control = call(h, "p-pa"), call(h, "p-pa")  # the control is never answered
    [message] = wait_for(lambda: inbox(fakes, ash, dispatch_id), 15, "the iOS push")
    assert message["patient_name"] == data.SYNTHETIC_PATIENT
    assert message["callback_number"] == data.SYNTHETIC_CALLBACK
    assert message["message"] == data.SYNTHETIC_MESSAGE
    wait_for(lambda: inbox(fakes, ash, control), 15, "the control's push")
    ack(h, ash, dispatch_id, AckKind.RECEIVED)
    ack(h, ash, dispatch_id, AckKind.ACCEPTED)
    wait_for(lambda: "accepted" in states(h, dispatch_id), 15, "accepted")
    seen = wait_for(lambda: h.redis.hget(h.keys.devices("dr-ash"), ash.device_id), 5, "device")
    assert json.loads(seen)["last_seen"]  # the receipt marked the phone as seen
    h.advance_clock(61)  # one ack timeout: the unanswered control escalates to the backup
    wait_for(lambda: inbox(fakes, birch, control), 15, "the control's backup paged")
    assert inbox(fakes, birch, dispatch_id) == []  # the accepted one did not escalate
    assert len(inbox(fakes, ash, dispatch_id)) == 1


def test_b_android_receipt_then_decline_pages_the_backup_at_once(
    h: Harness, fakes: PushFakes
) -> None:
    cedar, dove = phone("dr-cedar", "android"), phone("dr-dove", "ios")
    two_levels(h, "p-pb", cedar, dove, timeout_s=600)
    dispatch_id = call(h, "p-pb")
    [message] = wait_for(lambda: inbox(fakes, cedar, dispatch_id), 15, "the FCM push")
    assert message["patient_name"] == data.SYNTHETIC_PATIENT
    ack(h, cedar, dispatch_id, AckKind.RECEIVED)
    ack(h, cedar, dispatch_id, AckKind.DECLINED)
    wait_for(lambda: inbox(fakes, dove, dispatch_id), 15, "the backup's iOS push")


def test_b2_unanswered_pages_repage_then_backup_then_operator(h: Harness, fakes: PushFakes) -> None:
    wren, yew = phone("dr-wren", "ios"), phone("dr-yew", "android")
    two_levels(h, "p-pb2", wren, yew, timeout_s=10)
    dispatch_id = call(h, "p-pb2")
    wait_for(lambda: inbox(fakes, wren, dispatch_id), 15, "the first page")
    expected = [(2, 0), (2, 1), (2, 2)]  # (primary, backup) pushes after each timeout
    for primary_pushes, backup_pushes in expected:
        h.advance_clock(11)

        def counts(p: int = primary_pushes, b: int = backup_pushes) -> bool:
            return (len(inbox(fakes, wren, dispatch_id)), len(inbox(fakes, yew, dispatch_id))) == (
                p,
                b,
            )

        wait_for(counts, 15, f"{primary_pushes} primary / {backup_pushes} backup pushes")
    h.advance_clock(11)
    wait_for(
        lambda: [a for a in h.read("operator.alerts") if a.dispatch_id == dispatch_id],
        15,
        "the operator desk after every level stayed silent",
    )
    messages = inbox(fakes, wren, dispatch_id) + inbox(fakes, yew, dispatch_id)
    assert {m["patient_name"] for m in messages} == {data.SYNTHETIC_PATIENT}


def test_c_a_dead_token_is_deactivated_and_the_other_device_is_paged(
    h: Harness, fakes: PushFakes
) -> None:
    elm_ios, elm_android, fir = (
        phone("dr-elm", "ios"),
        phone("dr-elm", "android"),
        phone("dr-fir", "ios"),
    )
    practice = data.practice("p-pc", timeout_s=600, primary=("dr-elm",), backup=("dr-fir",))
    h.load_practice(practice, [elm_ios.device, elm_android.device, fir.device])
    fakes.apns_fault(elm_ios.push_token, {"status": 410, "reason": "Unregistered"})
    dispatch_id = call(h, "p-pc")
    wait_for(lambda: inbox(fakes, elm_android, dispatch_id), 15, "the Android push")

    def deactivated() -> bool:
        raw = h.redis.hget(h.keys.devices("dr-elm"), elm_ios.device_id)
        return raw is not None and json.loads(raw)["active"] is False

    wait_for(deactivated, 10, "the dead iOS token deactivated")
    assert inbox(fakes, fir, dispatch_id) == []  # one working device is enough

    second = call(h, "p-pc")  # the dead device is not tried again
    wait_for(lambda: inbox(fakes, elm_android, second), 15, "the next push")
    tried = [r for r in fakes.apns_received() if r["token"] == elm_ios.push_token]
    assert tried == []


def test_d_only_a_dead_device_means_the_backup_is_paged_at_once(
    h: Harness, fakes: PushFakes
) -> None:
    gum, hazel = phone("dr-gum", "android"), phone("dr-hazel", "ios")
    two_levels(h, "p-pd", gum, hazel, timeout_s=600)
    fakes.fcm_fault(gum.push_token, "UNREGISTERED")
    dispatch_id = call(h, "p-pd")
    wait_for(lambda: inbox(fakes, hazel, dispatch_id), 15, "the backup paged without waiting")


def test_e_no_receipt_in_time_fails_over_but_a_receipt_holds(h: Harness, fakes: PushFakes) -> None:
    ivy, jay = phone("dr-ivy", "ios"), phone("dr-jay", "android")
    two_levels(h, "p-pe", ivy, jay, timeout_s=600)
    silent, answered = call(h, "p-pe"), call(h, "p-pe")
    wait_for(lambda: inbox(fakes, ivy, silent), 15, "first push")
    wait_for(lambda: inbox(fakes, ivy, answered), 15, "second push")
    ack(h, ivy, answered, AckKind.RECEIVED, page=1)
    wait_for(lambda: "delivered" in states(h, answered), 10, "receipt recorded")
    h.advance_clock(21)  # past the 20 s receipt deadline, far from the 600 s ack timeout
    wait_for(lambda: inbox(fakes, jay, silent), 15, "failover after the receipt deadline")
    assert inbox(fakes, jay, answered) == []


def test_f_devices_register_and_rotate_through_the_devices_topic(
    h: Harness, fakes: PushFakes
) -> None:
    kit = phone("dr-kit", "ios")
    h.load_practice(data.practice("p-pf", timeout_s=600, primary=("dr-kit",)), [])

    def change(action: DeviceAction, **fields: Any) -> DeviceRegistration:
        return DeviceRegistration(
            clinician_id="dr-kit",
            device_id=kit.device_id,
            action=action,
            at=datetime.now(UTC),
            **fields,
        )

    h.producer.send_device(
        change(
            DeviceAction.REGISTER,
            platform="ios",
            push_token=kit.push_token,
            public_key=kit.keys.public_key_b64,
            auth_secret=kit.keys.auth_secret_b64,
            app_version="1.4.2",
            critical_alerts=True,
        )
    )
    wait_for(lambda: h.redis.hget(h.keys.devices("dr-kit"), kit.device_id), 15, "registered")
    first = call(h, "p-pf")
    wait_for(lambda: inbox(fakes, kit, first), 15, "push to the registered phone")
    new_token = uuid.uuid4().hex * 2
    h.producer.send_device(change(DeviceAction.ROTATE_TOKEN, push_token=new_token))

    def rotated() -> bool:
        raw = h.redis.hget(h.keys.devices("dr-kit"), kit.device_id)
        return raw is not None and json.loads(raw)["push_token"] == new_token

    wait_for(rotated, 15, "token rotated")
    kit.push_token = new_token
    second = call(h, "p-pf")
    wait_for(lambda: inbox(fakes, kit, second), 15, "push to the new token")


def test_g_fcm_invalid_argument_is_dead_lettered_and_the_dispatch_escalates(
    h: Harness, fakes: PushFakes
) -> None:
    lark, moss = phone("dr-lark", "android"), phone("dr-moss", "ios")
    two_levels(h, "p-pg", lark, moss, timeout_s=600)
    fakes.fcm_fault(lark.push_token, "INVALID_ARGUMENT")
    dispatch_id = call(h, "p-pg")
    wait_for(lambda: inbox(fakes, moss, dispatch_id), 15, "the backup paged")
    letters = wait_for(
        lambda: [d for d in h.read("deadletter") if d.reason_code == "push_rejected"],
        10,
        "the dead letter",
    )
    assert letters[0].source_topic == "push.fcm" and "INVALID_ARGUMENT" in letters[0].reason


def test_h_a_hanging_provider_does_not_hold_up_the_next_call(h: Harness, fakes: PushFakes) -> None:
    pine, quill, rue = phone("dr-pine", "android"), phone("dr-quill", "ios"), phone("dr-rue", "ios")
    two_levels(h, "p-ph", pine, quill, timeout_s=600)
    h.load_practice(data.practice("p-ph2", timeout_s=600, primary=("dr-rue",)), [rue.device])
    fakes.fcm_fault(pine.push_token, "slow", delay_s=8)  # past the worker's 3 s deadline
    hanging = call(h, "p-ph")
    next_call = call(h, "p-ph2")
    wait_for(lambda: inbox(fakes, quill, hanging), 20, "the backup paged after the deadline")
    wait_for(lambda: inbox(fakes, rue, next_call), 5, "the next call's push")
    tokens = [r["token"] for r in fakes.apns_received()]
    # the next call was pushed while the first call's push still hung, before its backup
    assert tokens.index(rue.push_token) < tokens.index(quill.push_token)


def test_y_a_provider_outage_ends_at_the_desk_and_pages_again_once_it_is_back(
    h: Harness, fakes: PushFakes
) -> None:
    nell, oak = phone("dr-nell", "ios"), phone("dr-oak", "android")
    two_levels(h, "p-py", nell, oak, timeout_s=600)
    fakes.apns_fault(nell.push_token, {"status": 503, "reason": "ServiceUnavailable"})
    fakes.fcm_fault(oak.push_token, "UNAVAILABLE")
    dispatch_id = call(h, "p-py")

    def desk_alerts() -> list[Any]:
        return [a for a in h.read("operator.alerts") if a.dispatch_id == dispatch_id]

    alerts = wait_for(desk_alerts, 40, "the operator desk alerted, with no clock advance")
    assert (alerts[0].desk_id, alerts[0].reason) == ("desk-1", "no reachable device")
    assert inbox(fakes, nell, dispatch_id) == [] and inbox(fakes, oak, dispatch_id) == []
    fakes.apns_fault(nell.push_token, None)  # the providers are back; the desk has not
    fakes.fcm_fault(oak.push_token, "none")  # claimed the alert yet
    h.advance_clock(61)  # the desk's acknowledgement timeout: re-alert, and page again
    wait_for(lambda: len(desk_alerts()) >= 2, 15, "the desk re-alerted")
    wait_for(lambda: inbox(fakes, nell, dispatch_id), 15, "the primary paged once APNs is back")
    wait_for(lambda: inbox(fakes, oak, dispatch_id), 15, "the backup paged once FCM is back")
    page = desk_alerts()[1].page
    assert page is not None
    ack(h, oak, dispatch_id, AckKind.RECEIVED, page=page)
    ack(h, oak, dispatch_id, AckKind.ACCEPTED, page=page)
    wait_for(lambda: "accepted" in states(h, dispatch_id), 15, "the backup accepted")


def test_z_no_plaintext_phi_in_envelopes_logs_metrics_or_events(
    h: Harness, fakes: PushFakes
) -> None:
    """Its own traffic (a page, a receipt, an acceptance, a push FCM refuses, an event that
    does not decode), then every place a leak could show is searched."""
    sol, tam = phone("dr-sol", "ios"), phone("dr-tam", "android")
    two_levels(h, "p-pz", sol, tam, timeout_s=600)
    fakes.fcm_fault(tam.push_token, "INVALID_ARGUMENT")
    accepted, rejected = call(h, "p-pz"), call(h, "p-pz")
    wait_for(lambda: inbox(fakes, sol, accepted) and inbox(fakes, sol, rejected), 15, "pushes")
    ack(h, sol, accepted, AckKind.RECEIVED)
    ack(h, sol, accepted, AckKind.ACCEPTED)
    ack(h, sol, rejected, AckKind.DECLINED)  # the backup's push is refused: dead letter
    broken = json.loads(data.urgent_call("p-pz").model_dump_json()) | {"surprise": 1}
    h.producer.send_raw("intake", "p-pz", json.dumps(broken).encode())
    wait_for(lambda: "accepted" in states(h, accepted), 15, "accepted")
    wait_for(
        lambda: [a for a in h.read("operator.alerts") if a.intake_event_id is not None
                 and str(a.intake_event_id) == broken["event_id"]],
        15,
        "the desk alerted for the rejected event",
    )  # fmt: skip
    wait_for(
        lambda: [d for d in h.read("deadletter") if d.reason_code == "push_rejected"],
        15,
        "the refused push dead-lettered",
    )
    envelopes = json.dumps(fakes.apns_received()) + json.dumps(fakes.fcm_received())
    assert sol.push_token in envelopes
    with urlopen(f"http://127.0.0.1:{h.settings.web_port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert 'nightline_push_provider_outcomes_total{outcome="ok",provider="apns"}' in metrics
    events = "".join(
        event.model_dump_json()
        for topic in ("dispatch.state", "audit", "operator.alerts", "deadletter", "devices")
        for event in h.read(topic)
    )
    assert accepted in events and broken["event_id"] in events
    worker_log = h.log_text()
    fake_logs = "".join(p.read_text() for p in Path(fakes.key_file.parent).glob("*.log"))
    for where, text in [("envelopes", envelopes), ("metrics", metrics), ("events", events),
                        ("worker log", worker_log), ("fake logs", fake_logs)]:  # fmt: skip
        for phi in PHI:
            assert phi not in text, f"{phi!r} found in {where}"
