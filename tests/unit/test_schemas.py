"""Event contracts: strict, versioned, aware datetimes, safe error reasons, and
committed JSON Schema / env sample files that are not stale."""

from __future__ import annotations

import json
import types
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from engine.domain.practice import TriageRules
from engine.domain.triage import classify
from engine.schemas._base import AwareDatetime
from engine.schemas.catalogue import CATALOGUE, spec
from engine.schemas.codec import DecodeError, decode, encode
from engine.schemas.export import SCHEMA_DIR, render_schemas
from engine.schemas.intake import CallReason, IntakeEvent, Urgency, VoiceCall
from engine.schemas.outbound import HeldForOffice
from engine.settings import render_env_sample

ROOT = Path(__file__).resolve().parents[2]

CALL = {
    "kind": "voice_call",
    "event_id": "0b0f3c2e-7d1c-4c55-9a57-5a4bde1e0a01",
    "practice_id": "p-1",
    "source_system": "pbx-1",
    "received_at": "2026-03-08T06:30:00Z",
    "caller": {"type": "patient", "name": "Synthetic Caller", "callback_number": "+1 555 0100"},
    "patient": {"name": "Synthetic Patient"},
    "reason": "symptoms",
    "message": "fever",
    "call_id": "c-1",
}


def _raw(**changes: object) -> bytes:
    return json.dumps({**CALL, **changes}).encode()


def test_valid_call_round_trips() -> None:
    event = decode(spec("intake").adapter, _raw())
    assert isinstance(event, VoiceCall)
    assert event.schema_version == 1 and event.received_at.utcoffset() is not None
    assert decode(spec("intake").adapter, encode(event)) == event


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        pytest.param({"received_at": "2026-03-08T06:30:00"}, "received_at", id="naive-datetime"),
        pytest.param({"surprise": True}, "voice_call.*: extra_forbidden", id="unknown-field"),
        pytest.param({"kind": "fax"}, "kind", id="unknown-kind"),
        pytest.param({"event_id": None}, "event_id", id="missing-event-id"),
        pytest.param({"reason": "Bored now"}, "reason", id="reason-not-a-code"),
        pytest.param({"reason": "x" * 65}, "reason", id="reason-code-too-long"),
        pytest.param({"reason": "new_code\n"}, "reason", id="reason-code-with-newline"),
        pytest.param(
            {"reason": "symptoms", "unrecognised_reason": "new_code"},
            "voice_call: value_error",
            id="unrecognised-reason-with-a-known-one",
        ),
        pytest.param({"caller": {"type": "patient"}, "call_id": None}, "call_id", id="missing"),
        pytest.param(
            {"patient": {"name": "", "nickname": "x"}}, "patient.*", id="nameless-with-extra"
        ),
        pytest.param(
            {"caller": {"type": "patient", "callback_number": "call me"}},
            "callback_number",
            id="bad-phone",
        ),
        pytest.param(
            {"caller": {"type": "patient", "callback_number": "+1 555 0100 ext"}},
            "callback_number",
            id="extension-without-digits",
        ),
        pytest.param(
            {"caller": {"type": "patient", "callback_number": "+1 555 0100 x12345678901"}},
            "callback_number",
            id="extension-too-long",
        ),
    ],
)
def test_schema_violations_name_the_field_but_not_the_value(changes: dict, where: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(spec("intake").adapter, _raw(**changes))
    assert caught.value.code == "schema_violation"
    assert where in caught.value.reason
    assert "Synthetic Patient" not in caught.value.reason
    assert "call me" not in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"{oops", "invalid_json"), (b"\xff\xfe", "invalid_json"), (None, "invalid_json")],
    ids=["broken-json", "not-utf8", "empty"],
)
def test_unparseable_input(raw: bytes | None, code: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(spec("intake").adapter, raw)
    assert caught.value.code == code


def test_oversize_is_rejected_before_parsing() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(spec("intake").adapter, _raw(message="x" * 5000), max_bytes=1024)
    assert caught.value.code == "oversize"


def test_events_are_frozen() -> None:
    event = TypeAdapter(IntakeEvent).validate_json(_raw())
    with pytest.raises(ValidationError):
        event.practice_id = "other"  # type: ignore[misc]


def test_catalogue_covers_the_required_topics() -> None:
    names = {t.name for t in CATALOGUE}
    assert {
        "intake",
        "dispatch.commands",
        "dispatch.state",
        "acks",
        "telephony.transfers",
        "office.held",
        "operator.alerts",
        "audit",
        "deadletter",
    } <= names
    assert spec("audit").retention_ms >= 6 * 365 * 24 * 3600 * 1000


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The concrete model classes behind a catalogue entry (unions, Annotated unwrapped)."""
    if get_origin(annotation) is Annotated:
        return _models(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _models(arg)]
    assert isinstance(annotation, type) and issubclass(annotation, BaseModel), annotation
    return [annotation]


EVENT_MODELS = [
    pytest.param(model, id=f"{topic.name}:{model.__name__}")
    for topic in CATALOGUE
    for declared in topic.models
    for model in _models(declared)
]


def _datetime_types(annotation: Any, seen: set[type]) -> list[Any]:
    """Every type inside ``annotation`` (nested models included) that holds a datetime, as
    written (``Annotated[datetime, ...]`` keeps its validators)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base = get_args(annotation)[0]
        return [annotation] if base is datetime else _datetime_types(base, seen)
    if annotation is datetime:
        return [annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return []
        seen.add(annotation)
        return [t for f in annotation.model_fields.values() for t in _field_datetimes(f, seen)]
    return [t for arg in get_args(annotation) for t in _datetime_types(arg, seen)]


def _field_datetimes(field: FieldInfo, seen: set[type]) -> list[Any]:
    written = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return _datetime_types(written, seen)


@pytest.mark.parametrize("model", EVENT_MODELS)
def test_every_event_model_follows_the_contract_rules(model: type[BaseModel]) -> None:
    fields = model.model_fields
    assert "schema_version" in fields and fields["schema_version"].annotation is int
    assert "event_id" in fields and fields["event_id"].annotation is uuid.UUID
    assert model.model_config.get("extra") == "forbid"
    assert model.model_config.get("frozen") is True
    for annotation in _datetime_types(model, set()):  # naive refused, aware accepted
        adapter = TypeAdapter(annotation)
        with pytest.raises(ValidationError):
            adapter.validate_python(datetime(2026, 3, 8, 6, 30))
        assert adapter.validate_python(datetime(2026, 3, 8, 6, 30, tzinfo=UTC))


def test_the_datetime_walk_finds_nested_and_optional_fields() -> None:
    """Else the aware-datetime rule above could pass by finding nothing."""

    class Inner(BaseModel):
        at: datetime | None = None

    class Outer(BaseModel):
        when: AwareDatetime
        inner: list[Inner]

    found = _datetime_types(Outer, set())
    assert len(found) == 2
    assert [t for t in found if _accepts(t, datetime(2026, 1, 1))] == [datetime]  # Inner.at
    assert len(_datetime_types(HeldForOffice, set())) == 2  # release_at, at


def _accepts(annotation: Any, value: datetime) -> bool:
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError:
        return False
    return True


def test_committed_json_schemas_are_current() -> None:
    rendered = render_schemas()
    committed = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.schema.json")}
    stale = sorted(
        n for n in rendered.keys() | committed.keys() if rendered.get(n) != committed.get(n)
    )
    assert not stale, f"run `nightline schemas export`; stale: {stale}"


def test_committed_env_sample_is_current() -> None:
    committed = (ROOT / "deploy" / "nightline.env.sample").read_text()
    assert committed == render_env_sample(), "run `nightline settings sample`"


def test_intake_event_id_is_required() -> None:
    data = {k: v for k, v in CALL.items() if k != "event_id"}
    with pytest.raises(ValidationError):
        TypeAdapter(IntakeEvent).validate_python(data)
    assert isinstance(uuid.UUID(CALL["event_id"]), uuid.UUID)


@pytest.mark.parametrize(
    "number",
    [
        "+1 555 0100 x12",
        "+1 555 0100 x 12",
        "+1 (555) 0100 ext. 12",
        "+1 (555) 555-0100 Ext 12",
        "+15550100;ext=12",
        "+1 555 0100, extension 4021",
    ],
)
def test_a_callback_number_may_carry_an_extension_which_is_kept(number: str) -> None:
    event = decode(
        spec("intake").adapter, _raw(caller={"type": "patient", "callback_number": number})
    )
    assert event.caller.callback_number == number


def test_an_unknown_reason_code_is_accepted_as_unrecognised_and_kept() -> None:
    event = decode(spec("intake").adapter, _raw(reason="poison_control_2"))
    assert event.reason is CallReason.UNRECOGNISED
    assert event.unrecognised_reason == "poison_control_2"
    assert decode(spec("intake").adapter, encode(event)) == event


def test_an_unrecognised_reason_is_at_least_urgent_under_any_rules() -> None:
    everything_routine = {reason: Urgency.ROUTINE for reason in CallReason}
    del everything_routine[CallReason.UNRECOGNISED]
    rules = TriageRules(reason_urgency=everything_routine, caller_type_minimum={},
                        urgent_keywords=[], emergency_keywords=[])  # fmt: skip
    event = decode(spec("intake").adapter, _raw(reason="brand_new_code", message=""))
    urgency, _ = classify(event, rules)
    assert urgency is Urgency.URGENT
    known = decode(spec("intake").adapter, _raw(reason="billing", message=""))
    assert classify(known, rules)[0] is Urgency.ROUTINE  # the rules do apply


def test_a_practice_cannot_make_unrecognised_reasons_routine() -> None:
    with pytest.raises(ValidationError) as caught:
        TriageRules(reason_urgency={CallReason.UNRECOGNISED: Urgency.ROUTINE})
    [error] = caught.value.errors()
    assert error["loc"] == ("reason_urgency",)
    assert "'unrecognised' cannot be routine" in error["msg"]
    for urgency in (Urgency.URGENT, Urgency.EMERGENCY):
        rules = TriageRules(reason_urgency={CallReason.UNRECOGNISED: urgency})
        assert rules.reason_urgency[CallReason.UNRECOGNISED] is urgency


@pytest.mark.parametrize("patient", [{"name": ""}, {"name": "   "}, {}, {"name": None}])
def test_a_patient_without_any_detail_counts_as_no_patient(patient: dict) -> None:
    event = decode(spec("intake").adapter, _raw(patient=patient))
    assert event.patient is None  # the push names the caller instead


def test_a_nameless_patient_with_other_details_is_kept() -> None:
    event = decode(
        spec("intake").adapter, _raw(patient={"name": " ", "date_of_birth": "2020-01-02"})
    )
    assert event.patient is not None and event.patient.name == ""
    assert event.patient.date_of_birth is not None
