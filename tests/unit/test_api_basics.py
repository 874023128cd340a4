"""The API's pure parts: API key format and checks, problem details that name fields
and never values, and the committed OpenAPI document."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from engine.api.app import OPENAPI_FILE, render_openapi
from engine.api.problems import field_problems
from engine.api.security import issue_api_key, parse_api_key, secret_digest
from engine.schemas.catalogue import spec
from engine.schemas.codec import field_names


def test_an_issued_key_parses_and_matches_only_its_own_digest() -> None:
    key, other = issue_api_key(), issue_api_key()
    parsed = parse_api_key(key.token)
    assert parsed is not None and parsed.key_id == key.key_id
    assert parsed.matches(key.digest)
    assert not parsed.matches(other.digest)
    assert key.digest == secret_digest(key.token.split("_", 2)[2])
    assert key.token.split("_", 2)[2] not in key.digest


@pytest.mark.parametrize(
    "token",
    ["", "nlk_", "Bearer nlk_0123456789ab_x", "nlk_0123456789ab_short", "nlk_XYZ_" + "a" * 43],
)
def test_malformed_keys_do_not_parse(token: str) -> None:
    assert parse_api_key(token) is None


def _errors(data: object) -> list[tuple[str, str]]:
    adapter = spec("intake").adapter
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(data)
    problems = field_problems(caught.value.errors(include_input=False), field_names(adapter))
    return [(p.field, p.problem) for p in problems]


def _call(**changes: object) -> dict[str, object]:
    event: dict[str, object] = {
        "kind": "voice_call",
        "event_id": "6f1c2f64-1b8e-4a43-9d35-2c9c1f6f3a11",
        "practice_id": "demo-peds",
        "source_system": "pbx-1",
        "received_at": "2026-12-05T03:12:00Z",
        "call_id": "c-1",
        "caller": {"type": "parent_guardian", "callback_number": "+1 555 0100"},
        "reason": "symptoms",
        "message": "Fever",
    }
    event.update(changes)
    return event


def test_a_failing_field_is_named_by_path_and_rule_without_its_value() -> None:
    secret = "Jane Quokka 555"
    errors = _errors(_call(caller={"type": "parent_guardian", "callback_number": secret}))
    assert errors == [("voice_call.caller.callback_number", "string_pattern_mismatch")]
    assert secret not in json.dumps(errors)


def test_an_unknown_key_is_hidden_because_it_could_be_patient_text() -> None:
    errors = _errors(_call(**{"Jane Quokka": "1"}))
    assert errors == [("voice_call.*", "extra_forbidden")]


def test_a_naive_time_is_named() -> None:
    assert _errors(_call(received_at="2026-12-05T03:12:00")) == [
        ("voice_call.received_at", "value_error")
    ]


def test_the_committed_openapi_document_is_current() -> None:
    committed = OPENAPI_FILE.read_text()
    assert committed == render_openapi(), "run `nightline schemas export`"
    document = json.loads(committed)
    body = document["paths"]["/v1/intake"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/IntakeEvent"}
    assert "VoiceCall" in document["components"]["schemas"]
