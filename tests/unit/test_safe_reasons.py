"""Dead-letter reasons never carry values: PHI-like text in every position of an
intake event (field values, unknown keys at any depth, the ``kind`` tag, broken JSON,
over-long strings, bytes that are not UTF-8) is kept out of the reason, which still
names the field. Also the reason of a push FCM refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.fakes import MemoryDeviceDirectory, MemoryVault
from engine.ports import PushRequest
from engine.push.fcm import FcmResult
from engine.push.gateway import ProviderPushGateway
from engine.schemas.catalogue import spec
from engine.schemas.codec import DecodeError, decode
from engine.standins.virtual_device import VirtualDevice

PHI = "Jane Q Patient 555-0100"
PHI_PARTS = ("Jane", "Patient", "555", "0100")

CALL: dict[str, Any] = {
    "kind": "voice_call",
    "event_id": "0b0f3c2e-7d1c-4c55-9a57-5a4bde1e0a01",
    "practice_id": "p-1",
    "source_system": "pbx-1",
    "received_at": "2026-03-08T06:30:00Z",
    "caller": {"type": "patient", "name": "Synthetic Caller", "callback_number": "+1 555 0199"},
    "patient": {"name": "Synthetic Patient", "date_of_birth": "2020-01-02"},
    "reason": "symptoms",
    "message": "fever",
    "operator_urgency": "urgent",
    "caller_requested_urgency": "urgent",
    "coverage_group": "peds",
    "call_id": "c-1",
    "caller_on_hold": False,
}
OTHER_KINDS: dict[str, dict[str, Any]] = {
    "voicemail": {"call_id": "c-1", "duration_seconds": 30, "recording_ref": "r-1"},
    "sms": {"thread_id": "t-1"},
    "chat": {"session_id": "s-1"},
    "email": {"subject": "hello"},
    "web_form": {"form_id": "f-1"},
}


def _reason(raw: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(spec("intake").adapter, raw, max_bytes=64 * 1024)
    return caught.value


def _assert_clean(error: DecodeError, *secrets: str) -> None:
    for text in (error.reason, str(error)):
        for secret in (*PHI_PARTS, *secrets):
            assert secret not in text, f"{secret!r} leaked into {text!r}"


def _event(kind: str) -> dict[str, Any]:
    base = {k: v for k, v in CALL.items() if k not in ("call_id", "caller_on_hold")}
    extra = {"call_id": "c-1", "caller_on_hold": False} if kind == "voice_call" else {}
    return {**base, **extra, **OTHER_KINDS.get(kind, {}), "kind": kind}


def _positions() -> list[tuple[str, tuple[str, ...]]]:
    """(kind, path) of every value in every intake kind, nested ones included."""
    found = []
    for kind in ("voice_call", *OTHER_KINDS):
        for key, value in _event(kind).items():
            if key == "kind":
                continue
            if isinstance(value, dict):
                found += [(kind, (key, inner)) for inner in value]
            found.append((kind, (key,)))
    return found


def _replace(data: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(data))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


@pytest.mark.parametrize(("kind", "path"), _positions(), ids=lambda p: str(p))
@pytest.mark.parametrize(
    "bad", [PHI, {"text": PHI}, [PHI], PHI * 400], ids=["text", "object", "list", "long"]
)
def test_phi_as_any_value_stays_out_of_the_reason(
    kind: str, path: tuple[str, ...], bad: object
) -> None:
    data = _replace(_event(kind), path, bad)
    try:
        decode(spec("intake").adapter, json.dumps(data).encode())
    except DecodeError as error:
        _assert_clean(error, "text")
        assert error.code == "schema_violation"
        assert f"{kind}.{'.'.join(path)}" in error.reason
    else:  # free-text fields take the text as it is; they are not errors
        assert path in (("message",), ("caller", "name"), ("caller", "organisation"),
                        ("patient", "name"), ("patient", "medical_record_number"),
                        ("subject",), ("recording_ref",)) and bad == PHI  # fmt: skip


@pytest.mark.parametrize(
    ("where", "named"),
    [
        ((), "voice_call.*: extra_forbidden"),
        (("caller",), "voice_call.caller.*: extra_forbidden"),
        (("patient",), "voice_call.patient.*: extra_forbidden"),
    ],
)
def test_unknown_keys_at_every_depth_are_cut(where: tuple[str, ...], named: str) -> None:
    data = json.loads(json.dumps(CALL))
    target = data
    for key in where:
        target = target[key]
    target[PHI] = "x"
    target["Jane"] = {PHI: PHI}
    error = _reason(json.dumps(data).encode())
    _assert_clean(error)
    assert f"{named} (x2)" in error.reason


def test_a_key_inside_a_scalar_field_is_cut() -> None:
    error = _reason(json.dumps({**CALL, "caller": {"type": {PHI: 1}}}).encode())
    _assert_clean(error)
    assert "voice_call.caller.type: enum" in error.reason


@pytest.mark.parametrize("tag", [PHI, None, 5, {"a": PHI}])
def test_the_kind_tag_is_named_never_quoted(tag: object) -> None:
    error = _reason(json.dumps({**CALL, "kind": tag}).encode())
    _assert_clean(error)
    assert error.reason.startswith("kind: union_tag_")


def test_a_missing_kind_is_named() -> None:
    data = {k: v for k, v in CALL.items() if k != "kind"}
    assert _reason(json.dumps(data).encode()).reason == "kind: union_tag_not_found"


@pytest.mark.parametrize(
    "raw",
    [
        PHI.encode(),
        b'{"message": "' + PHI.encode(),  # cut short
        b'{"patient": ' + PHI.encode() + b"}",
        b'{"message": "' + PHI.encode() + b' \xff\xfe"}',  # not UTF-8
        b'{"' + PHI.encode() + b'": 1,}',
        b"[" * 50_000 + PHI.encode(),  # nested beyond the parser's recursion limit
        b'{"message": 1' + b"5" * 5000 + b"}",  # an integer over Python's digit limit
    ],
    ids=["bare", "truncated", "unquoted", "not-utf8", "trailing-comma", "deep", "huge-int"],
)
def test_unparseable_text_stays_out_of_the_reason(raw: bytes) -> None:
    error = _reason(raw)
    assert error.code == "invalid_json"
    _assert_clean(error)


def test_oversize_names_sizes_only() -> None:
    error = _reason(json.dumps({**CALL, "message": PHI * 5000}).encode())
    assert error.code == "oversize"
    _assert_clean(error)


def test_the_reason_lists_each_problem_by_type() -> None:
    data = {**CALL, "received_at": "2026-03-08T06:30:00", "caller": {"type": "patient",
            "callback_number": PHI}, "message": PHI * 400}  # fmt: skip
    reason = _reason(json.dumps(data).encode()).reason
    assert reason.split("; ") == [
        "voice_call.received_at: value_error",
        "voice_call.caller.callback_number: string_pattern_mismatch",
        "voice_call.message: string_too_long",
    ]


marked_text = st.text(min_size=1, max_size=20).map(lambda s: f"QZX{s}")


@settings(max_examples=200, deadline=None)
@given(
    key=marked_text,
    value=st.one_of(marked_text, st.lists(marked_text, max_size=3)),
    depth=st.sampled_from([(), ("caller",), ("patient",)]),
    field=st.sampled_from(["kind", "reason", "event_id", "received_at", "practice_id"]),
)
def test_no_attacker_text_reaches_the_reason(
    key: str, value: object, depth: tuple[str, ...], field: str
) -> None:
    data = json.loads(json.dumps(CALL))
    target = data
    for part in depth:
        target = target[part]
    target[key] = value
    data[field] = value
    error = _reason(json.dumps(data).encode())
    assert "QZX" not in error.reason


class _RefusingFcm:
    """An FCM client whose answer echoes the request, as FCM's error messages can."""

    def __init__(self, error_code: str) -> None:
        self.error_code = error_code

    async def send(self, token: str, data: dict[str, str], **_: object) -> FcmResult:
        echo = f"Invalid value at 'data' ({PHI})"
        return FcmResult(
            ok=False, status=400, error_code=self.error_code, invalid_argument=True, detail=echo
        )


@pytest.mark.parametrize(
    ("error_code", "expected"),
    [
        ("INVALID_ARGUMENT", "FCM INVALID_ARGUMENT (HTTP 400)"),
        (PHI, "FCM INVALID_ARGUMENT (HTTP 400)"),  # an error code we cannot trust
    ],
)
async def test_a_push_fcm_refused_is_dead_lettered_with_codes_only(
    error_code: str, expected: str
) -> None:
    rejected: list[tuple[str, bytes, str]] = []

    async def on_rejected(provider: str, body: bytes, reason: str) -> None:
        rejected.append((provider, body, reason))

    phone = VirtualDevice("dr-ash", "phone-1", "android")
    gateway = ProviderPushGateway(
        MemoryVault(), MemoryDeviceDirectory(), None, _RefusingFcm(error_code),  # type: ignore[arg-type]
        on_rejected=on_rejected,
    )  # fmt: skip
    request = PushRequest("d-1", phone.device, "urgent", 0, 0, "Urgent message - open to view")
    result = await gateway.send(request)
    assert not result.ok
    [(provider, _, reason)] = rejected
    assert provider == "fcm" and reason == expected
