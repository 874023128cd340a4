"""The virtual phone's pure steps: pick its pushes, decrypt, dedupe, decide acks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.push.envelope import android_data, ios_payload
from engine.push.payload import PushContent, build_device_payload
from engine.schemas.acks import AckKind
from engine.schemas.intake import Urgency
from engine.standins.phone import (
    acks_for,
    describe,
    legacy_state_path,
    new_bodies,
    open_push,
    open_pushes,
    select_bodies,
    state_path,
)
from engine.standins.virtual_device import VirtualDevice

AT = datetime(2026, 1, 5, 3, 12, tzinfo=UTC)
SYNTHETIC = {
    "patient_name": "Test Patient Alpha",
    "callback_number": "+1 555-0100",
    "message": "Synthetic message: fever since noon",
    "practice_name": "Synthetic Pediatrics",
}


def content(dispatch_id: str = "d-1", **changes: str) -> PushContent:
    return PushContent(dispatch_id=dispatch_id, urgency=Urgency.URGENT, **{**SYNTHETIC, **changes})


def body_for(
    phone: VirtualDevice, dispatch_id: str = "d-1", page: int = 1, **changes: str
) -> dict[str, Any]:
    """What the provider delivers to ``phone`` for one page (as the gateway builds it)."""
    payload = build_device_payload(content(dispatch_id, **changes), phone.device)
    if phone.platform == "ios":
        return ios_payload(payload, "urgent", page)
    return dict(android_data(payload, "urgent", page))


def row(token: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A record in the fakes' one documented shape (engine/standins/fake_received.py)."""
    return {"token": token, "payload": payload, "headers": {"authorization": "bearer x"}}


def test_select_apns_rows_by_token_case_insensitively() -> None:
    mine, other = "ab" * 32, "cd" * 32
    rows = [row(mine.upper(), {"n": 1}), row(other, {"n": 2}), row(mine, {"n": 3})]
    received = {"received": rows, "attempts": {mine: 2, other: 1}}
    assert select_bodies("ios", mine, received) == [{"n": 1}, {"n": 3}]
    assert select_bodies("ios", "ef" * 32, received) == []


def test_select_fcm_rows_by_exact_token() -> None:
    received = {
        "received": [
            {**row("tok-a", {"n": "1"}), "android": {"priority": "HIGH"}},
            {**row("tok-b", {"n": "2"}), "android": {"priority": "HIGH"}},
            {**row("TOK-B", {"n": "3"}), "android": {"priority": "HIGH"}},
        ],
        "attempts": {"tok-a": 1},
        "token_grants": 1,
    }
    assert select_bodies("android", "tok-b", received) == [{"n": "2"}]


@pytest.mark.parametrize("answer", [[], {}, {"received": None}, {"received": [None, "x"]}])
def test_select_from_an_unexpected_answer_finds_nothing(answer: Any) -> None:
    assert select_bodies("ios", "ab" * 32, answer) == []


def test_select_needs_a_known_platform() -> None:
    with pytest.raises(ValueError, match="platform"):
        select_bodies("pager", "t", {"received": []})


@pytest.mark.parametrize("platform", ["ios", "android"])
def test_decrypt_round_trip_through_the_wire_format(platform: str) -> None:
    phone = VirtualDevice("dr-ames", "phone-a", platform)
    opened = open_push(phone, body_for(phone))
    assert (opened.dispatch_id, opened.urgency, opened.fetch) == ("d-1", "urgent", False)
    assert opened.alert_text == "Urgent message - open to view"
    assert opened.content is not None
    assert PushContent.model_validate(opened.content) == content()
    line = describe(opened)
    assert "d-1" in line and "urgent" in line and "Test Patient Alpha" in line
    assert "+1 555-0100" in line and "Synthetic Pediatrics" in line
    assert "Test Patient Alpha" not in repr(opened)  # PHI stays out of reprs (and logs)


def test_another_phones_push_cannot_be_opened() -> None:
    phone, stranger = VirtualDevice("dr-a", "p1", "ios"), VirtualDevice("dr-b", "p2", "ios")
    opened = open_push(phone, body_for(stranger))
    assert opened.content is None and "cannot decrypt" in opened.problem
    assert "Test Patient Alpha" not in describe(opened)


def test_oversize_message_is_a_fetch_stub() -> None:
    phone = VirtualDevice("dr-ames", "phone-a", "android")
    opened = open_push(phone, body_for(phone, message="x" * 5000))
    assert opened.fetch and opened.content == {"dispatch_id": "d-1"}
    assert "fetch the message" in describe(opened)


def test_push_without_ciphertext() -> None:
    phone = VirtualDevice("dr-ames", "phone-a", "ios")
    opened = open_push(phone, {"aps": {"alert": {"body": "New"}}, "nl": {"v": 1, "d": "d-9"}})
    assert opened.content is None and "fetch" in opened.problem
    assert describe(opened).startswith("d-9")


def test_foreign_payloads_are_skipped() -> None:
    phone = VirtualDevice("dr-ames", "phone-a", "ios")
    opened = open_pushes(phone, [{"aps": {}}, body_for(phone, "d-2")])
    assert [p.dispatch_id for p in opened] == ["d-2"]


def test_new_bodies_skip_handled_and_repeated_pages_but_not_re_pages() -> None:
    phone = VirtualDevice("dr-ames", "phone-a", "ios")
    pages = [("d-1", 1), ("d-2", 1), ("d-2", 1), ("d-3", 1), ("d-1", 1), ("d-1", 2)]
    bodies = [body_for(phone, d, page) for d, page in pages]
    fresh = new_bodies("ios", [{"aps": {}}, *bodies], handled={"d-1#1"})
    assert [(b["nl"]["d"], b["nl"]["p"]) for b in fresh] == [("d-2", 1), ("d-3", 1), ("d-1", 2)]
    assert new_bodies("ios", bodies, handled={"d-1#1", "d-1#2", "d-2#1", "d-3#1"}) == []


def test_handled_ids_survive_a_save_and_load(tmp_path: Path) -> None:
    phone = VirtualDevice("dr-ames", "phone-a", "android")
    bodies = [body_for(phone, "d-1"), body_for(phone, "d-2")]
    phone.handled.add("d-1#1")
    path = state_path(tmp_path, "nightline", phone.device_id)
    phone.save(path)
    again = VirtualDevice.load(path)
    assert [b["dispatch_id"] for b in new_bodies("android", bodies, again.handled)] == ["d-2"]


@pytest.mark.parametrize(
    ("read", "decision", "kinds"),
    [
        (False, None, [AckKind.RECEIVED]),
        (True, None, [AckKind.RECEIVED, AckKind.READ]),
        (False, "accept", [AckKind.RECEIVED, AckKind.ACCEPTED]),
        (True, "decline", [AckKind.RECEIVED, AckKind.READ, AckKind.DECLINED]),
    ],
)
def test_acks_for_a_new_push(read: bool, decision: Any, kinds: list[AckKind]) -> None:
    phone = VirtualDevice("dr-ames", "phone-a", "ios")
    acks = acks_for(phone, open_push(phone, body_for(phone)), AT, read=read, decision=decision)
    assert [a.kind for a in acks] == kinds
    assert {(a.dispatch_id, a.clinician_id, a.device_id, a.at) for a in acks} == {
        ("d-1", "dr-ames", "phone-a", AT)
    }


def test_state_path_is_per_topic_prefix_and_refuses_path_tricks(tmp_path: Path) -> None:
    assert state_path(tmp_path, "demo-1", "phone-a") == tmp_path / "devices/demo-1/phone-a.json"
    assert legacy_state_path(tmp_path, "phone-a") == tmp_path / "devices" / "phone-a.json"
    for bad in ("../etc", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="device id"):
            state_path(tmp_path, "demo-1", bad)
        with pytest.raises(ValueError, match="topic prefix"):
            state_path(tmp_path, bad, "phone-a")
        with pytest.raises(ValueError, match="device id"):
            legacy_state_path(tmp_path, bad)
