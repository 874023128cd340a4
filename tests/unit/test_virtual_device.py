"""The virtual phone's private state on disk: round trip, owner-only mode, bad files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from engine.push.crypto import b64url_encode, encrypt_for_device
from engine.standins.virtual_device import VirtualDevice, new_push_token


def test_save_load_round_trip_keeps_keys_token_and_handled(tmp_path: Path) -> None:
    phone = VirtualDevice("dr-ames", "phone-a", "ios", critical_alerts=True, app_version="9.1")
    phone.handled.update({"d-2", "d-1"})
    path = tmp_path / "devices" / "phone-a.json"
    phone.save(path)
    loaded = VirtualDevice.load(path)
    assert loaded.device == phone.device  # same public key, auth secret, token, flags
    assert loaded.handled == {"d-1", "d-2"}
    body = encrypt_for_device(b'{"x": 1}', phone.keys.public_key_b64, phone.keys.auth_secret_b64)
    assert loaded.open(b64url_encode(body)) == {"x": 1}  # the private key survived


def test_state_file_is_owner_only_even_when_replacing(tmp_path: Path) -> None:
    path = tmp_path / "devices" / "phone-a.json"
    path.parent.mkdir()
    path.write_text("old")
    path.chmod(0o644)
    VirtualDevice("dr-ames", "phone-a", "android").save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["phone-a.json"]  # no temp file left


def test_state_holds_private_material_but_repr_does_not(tmp_path: Path) -> None:
    phone = VirtualDevice("dr-ames", "phone-a", "ios")
    state = json.loads(phone.to_json())
    assert state["auth_secret"] == phone.keys.auth_secret_b64 and state["private_key"]
    assert state["platform"] == "ios" and state["clinician_id"] == "dr-ames"
    assert phone.keys.auth_secret_b64 not in repr(phone)


@pytest.mark.parametrize(
    "text", ["{}", '{"version": 1}', '{"version": 99, "device_id": "x"}', "[]", "not json"]
)
def test_from_json_rejects_other_files(text: str) -> None:
    with pytest.raises(ValueError):
        VirtualDevice.from_json(text)


def test_new_push_token_shapes() -> None:
    ios, android = new_push_token("ios"), new_push_token("android")
    assert len(ios) == 64 and int(ios, 16) >= 0
    assert android.startswith("virtual:") and ios != new_push_token("ios")
