"""Per-device push payloads: PHI only inside the ciphertext; budget fallback; virtual phone."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest

from engine.ports import Device
from engine.push.apns import MAX_PAYLOAD_BYTES, build_payload, encode_payload
from engine.push.crypto import b64url_decode
from engine.push.envelope import android_data, ios_payload
from engine.push.fcm import MAX_DATA_BYTES, build_message, data_size
from engine.push.payload import (
    MAX_CIPHERTEXT_B64,
    DevicePayload,
    PushContent,
    alert_text_for,
    build_device_payload,
)
from engine.schemas.intake import Urgency
from engine.standins.virtual_device import VirtualDevice

# Synthetic patient: every value is made up.
PHI = {
    "patient_name": "Zelda Quaxworth",
    "callback_number": "+1-555-0142",
    "message": "Child fever 39.8C since noon, rash on arms, asking about dosing",
    "practice_name": "Maplewood Pediatrics",
}


def _content(urgency: Urgency = Urgency.URGENT, **changes: str) -> PushContent:
    fields = {**PHI, **changes}
    return PushContent(dispatch_id="dsp-0001", urgency=urgency, **fields)


def _visible(payload: DevicePayload) -> str:
    """Everything the push provider can read besides the ciphertext."""
    return json.dumps({**asdict(payload), "ciphertext_b64": None}) + repr(payload)


def _assert_no_phi(payload: DevicePayload, content: PushContent) -> None:
    for name in PHI:
        value = getattr(content, name)
        assert value not in _visible(payload)
        if payload.ciphertext_b64 is not None:
            assert value not in payload.ciphertext_b64
            assert value.encode() not in b64url_decode(payload.ciphertext_b64)


def test_phi_travels_only_inside_the_ciphertext() -> None:
    phone = VirtualDevice("dr-ames", "dr-ames-phone", "ios")
    content = _content()
    payload = build_device_payload(content, phone.device)
    _assert_no_phi(payload, content)
    assert payload.truncated is False
    assert payload.dispatch_id == "dsp-0001"
    assert payload.alert_text == "Urgent message - open to view"
    assert phone.open(payload.ciphertext_b64 or "") == json.loads(content.model_dump_json())
    assert PushContent.model_validate(phone.open(payload.ciphertext_b64 or "")) == content


def test_push_content_repr_hides_phi() -> None:
    text = repr(_content()) + str(_content())
    assert "dsp-0001" in text
    assert not any(value in text for value in PHI.values())


@pytest.mark.parametrize(
    ("urgency", "alert"),
    [
        (Urgency.EMERGENCY, "EMERGENCY message - open to view now"),
        (Urgency.URGENT, "Urgent message - open to view"),
        (Urgency.ROUTINE, "New message - open to view"),
    ],
)
def test_alert_text_is_generic(urgency: Urgency, alert: str) -> None:
    phone = VirtualDevice("dr-ames", "dr-ames-phone", "android")
    assert build_device_payload(_content(urgency), phone.device).alert_text == alert


def test_oversized_message_sends_only_the_dispatch_id() -> None:
    phone = VirtualDevice("dr-ames", "dr-ames-phone", "ios")
    content = _content(message="Synthetic long message. " * 120)
    payload = build_device_payload(content, phone.device)
    assert payload.truncated is True
    assert payload.ciphertext_b64 is not None
    assert phone.open(payload.ciphertext_b64) == {"dispatch_id": "dsp-0001"}
    _assert_no_phi(payload, content)


def test_budget_boundary() -> None:
    phone = VirtualDevice("dr-ames", "dr-ames-phone", "ios")
    base = len(_content(message="").model_dump_json())
    # base64url of (json + 103) bytes, unpadded: ceil(4 * n / 3)
    fits = (MAX_CIPHERTEXT_B64 * 3) // 4 - 103 - base
    at_limit = build_device_payload(_content(message="m" * fits), phone.device)
    over = build_device_payload(_content(message="m" * (fits + 1)), phone.device)
    assert at_limit.truncated is False
    assert len(at_limit.ciphertext_b64 or "") <= MAX_CIPHERTEXT_B64
    assert over.truncated is True


# The largest push the gateway can build: a full-size ciphertext, the longest dispatch id
# an Identifier allows (128), and every urgency (emergency has the longest alert text and,
# with critical alerts, the largest ``aps``); ``truncated`` adds the fetch flag.
LONGEST_DISPATCH_ID = "d-" + "f" * 126


def _largest(urgency: str, truncated: bool) -> DevicePayload:
    return DevicePayload(
        "A" * MAX_CIPHERTEXT_B64, LONGEST_DISPATCH_ID, alert_text_for(urgency), truncated
    )


@pytest.mark.parametrize("truncated", [False, True])
@pytest.mark.parametrize("urgency", [u.value for u in Urgency])
def test_largest_payload_fits_apns(urgency: str, truncated: bool) -> None:
    """The real wire format (envelope + aps), as ApnsClient encodes it, within 4,096 bytes."""
    payload = _largest(urgency, truncated)
    aps = build_payload(ios_payload(payload, urgency, 99), urgency, critical=True)
    body = encode_payload(aps)  # raises PayloadTooLarge over MAX_PAYLOAD_BYTES
    assert len(body) <= MAX_PAYLOAD_BYTES == 4096


@pytest.mark.parametrize("truncated", [False, True])
@pytest.mark.parametrize("urgency", [u.value for u in Urgency])
def test_largest_payload_fits_fcm(urgency: str, truncated: bool) -> None:
    """The data map FcmClient holds against the limit, within 4,096 bytes."""
    data = android_data(_largest(urgency, truncated), urgency, 99)
    message = build_message("tok-1", data, ttl_s=300, urgency=urgency)
    assert data_size(message["message"]["data"]) <= MAX_DATA_BYTES == 4096


def test_device_without_keys_gets_no_ciphertext() -> None:
    bare = Device("dr-ames-old", "dr-ames", "android", "tok-1")
    content = _content(Urgency.EMERGENCY)
    payload = build_device_payload(content, bare)
    assert payload == DevicePayload(
        None, "dsp-0001", "EMERGENCY message - open to view now", truncated=True
    )
    _assert_no_phi(payload, content)


def test_device_with_a_broken_key_gets_no_ciphertext() -> None:
    phone = VirtualDevice("dr-ames", "dr-ames-phone", "ios")
    broken = replace(phone.device, public_key="bm90LWEta2V5")
    payload = build_device_payload(_content(), broken)
    assert payload.ciphertext_b64 is None and payload.truncated is True


def test_virtual_device_registration_record() -> None:
    phone = VirtualDevice("dr-ames", "dr-ames-phone", "ios", critical_alerts=True)
    device = phone.device
    assert (device.clinician_id, device.device_id, device.platform) == (
        "dr-ames",
        "dr-ames-phone",
        "ios",
    )
    assert device.active and device.critical_alerts
    assert len(device.push_token) == 64
    assert device.public_key == phone.keys.public_key_b64
    assert len(b64url_decode(device.auth_secret)) == 16
    assert phone.device == device  # stable across reads


def test_each_device_gets_its_own_ciphertext() -> None:
    first = VirtualDevice("dr-ames", "phone-a", "ios")
    second = VirtualDevice("dr-ames", "phone-b", "android")
    content = _content()
    a = build_device_payload(content, first.device).ciphertext_b64 or ""
    b = build_device_payload(content, second.device).ciphertext_b64 or ""
    assert first.open(a)["patient_name"] == second.open(b)["patient_name"] == PHI["patient_name"]
    with pytest.raises(ValueError):
        first.open(b)


def test_virtual_device_rejects_unknown_platform() -> None:
    with pytest.raises(ValueError):
        VirtualDevice("dr-ames", "pager", "blackberry")
