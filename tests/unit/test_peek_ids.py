"""Best-effort ids of an intake record that failed to decode: only a valid
Identifier / UUID, never anything else, never an exception, and a dead letter
from the intake topic carries them."""

from __future__ import annotations

import json
import uuid

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.adapters.dead_letters import DeadLetterWriter
from engine.fakes import MemoryPublisher
from engine.schemas.peek import IntakeIds, peek_intake_ids

EVENT_ID = uuid.UUID("0b0f3c2e-7d1c-4c55-9a57-5a4bde1e0a01")
BROKEN = {
    "practice_id": "demo-peds",
    "event_id": str(EVENT_ID),
    "kind": "fax",
    "patient": {"name": "Jane Q Patient 555-0100"},
    "message": "Jane Q Patient 555-0100",
}
RAW = json.dumps(BROKEN).encode()


def test_reads_both_ids_of_a_record_the_schema_rejected() -> None:
    assert peek_intake_ids(RAW) == IntakeIds("demo-peds", EVENT_ID)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (RAW[: RAW.index(b"Jane") + 4], IntakeIds("demo-peds", EVENT_ID)),  # cut short
        (RAW.replace(b"Jane", b"\xff\xfeJane"), IntakeIds("demo-peds", EVENT_ID)),  # not UTF-8
        (RAW.replace(b'"kind": "fax"', b'"kind": fax'), IntakeIds("demo-peds", EVENT_ID)),
        (b'{"practice_id": "demo-peds", "x": ' + b"[" * 100_000, IntakeIds("demo-peds", None)),
        (b'{"practice_id": "p-1", "practice_id": "p-2"}', IntakeIds("p-2", None)),  # as json
        (b'{"patient": {"practice_id": "p-1", "event_id": "' + str(EVENT_ID).encode() + b'"}}',
         IntakeIds(None, None)),  # only top-level members count
        (b'{"message": "\\"practice_id\\": \\"p-1\\""}', IntakeIds(None, None)),
        (b'{"practice_id": "Jane Q Patient", "event_id": "555-0100"}', IntakeIds(None, None)),
        (b'{"practice_id": 5, "event_id": 5}', IntakeIds(None, None)),
        (b'{"practice_id": ["p-1"], "event_id": {"id": "x"}}', IntakeIds(None, None)),
        (b'{"practice_id": "' + b"p" * 129 + b'"}', IntakeIds(None, None)),  # too long
        (b'["demo-peds"]', IntakeIds(None, None)),
        (b"", IntakeIds(None, None)),
        (None, IntakeIds(None, None)),
    ],
    ids=["truncated", "not-utf8", "broken-later", "deep", "repeated", "nested", "in-text",
         "phi", "numbers", "structures", "too-long", "array", "empty", "none"],
)  # fmt: skip
def test_best_effort_and_only_valid_ids(raw: bytes | None, expected: IntakeIds) -> None:
    assert peek_intake_ids(raw) == expected


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2000))
def test_never_raises_on_any_bytes(raw: bytes) -> None:
    practice_id, event_id = peek_intake_ids(raw)
    assert practice_id is None or practice_id.encode() in raw
    assert event_id is None or isinstance(event_id, uuid.UUID)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    before=st.dictionaries(st.text(), json_values, max_size=5),
    after=st.dictionaries(st.text(), json_values, max_size=5),
    practice_id=st.from_regex(r"[a-z0-9][a-z0-9_.:\-]{0,20}", fullmatch=True),
    event_id=st.uuids(),
    cut=st.integers(min_value=0, max_value=10_000),
)
def test_ids_before_the_break_survive_whatever_follows(
    before: dict, after: dict, practice_id: str, event_id: uuid.UUID, cut: int
) -> None:
    before = {k: v for k, v in before.items() if k not in ("practice_id", "event_id")}
    after = {k: v for k, v in after.items() if k not in ("practice_id", "event_id")}
    head = json.dumps({**before, "practice_id": practice_id, "event_id": str(event_id)})[:-1]
    tail = json.dumps(after)[1:]
    raw = (head + (", " + tail if after else "}")).encode()
    assert json.loads(raw)["practice_id"] == practice_id  # well-formed as a whole
    assert peek_intake_ids(raw) == IntakeIds(practice_id, event_id)
    ids_end = len(head.encode())
    cut_short = raw[: ids_end + cut % (len(raw) - ids_end + 1)]
    assert peek_intake_ids(cut_short) == IntakeIds(practice_id, event_id)


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_anything_but_a_valid_id_gives_none(value: object) -> None:
    raw = json.dumps({"practice_id": value, "event_id": value}).encode()
    practice_id, event_id = peek_intake_ids(raw)
    if practice_id is not None:
        assert value == practice_id and isinstance(value, str)
    if event_id is not None:
        assert isinstance(value, str) and uuid.UUID(value) == event_id


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("nightline.intake", ("demo-peds", EVENT_ID)),
        ("nightline.acks", (None, None)),  # another topic's event id is no intake id
        ("push.fcm", (None, None)),
    ],
)
async def test_the_writer_ties_an_intake_dead_letter_to_its_practice(
    topic: str, expected: tuple[str | None, uuid.UUID | None]
) -> None:
    publisher = MemoryPublisher()
    writer = DeadLetterWriter(publisher, Fernet.generate_key())
    letter = await writer.write(topic, RAW, "schema_violation", "kind: union_tag_invalid")
    assert (letter.practice_id, letter.intake_event_id) == expected
    assert writer.decrypt(letter) == RAW
    assert "Jane" not in letter.model_dump_json()


async def test_ids_given_by_the_caller_win() -> None:
    writer = DeadLetterWriter(MemoryPublisher(), Fernet.generate_key())
    letter = await writer.write(
        "nightline.intake", RAW, "handler_error", "x", ids=IntakeIds("other", None)
    )
    assert (letter.practice_id, letter.intake_event_id) == ("other", None)
