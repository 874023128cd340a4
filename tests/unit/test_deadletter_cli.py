"""The pure parts of ``nightline deadletter``: ages, filters, the PHI-free line, and
``show`` refusing before it reads anything."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.cli.deadletter import describe, parse_age, select
from engine.schemas.deadletter import DeadLetter

AT = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def _letter(
    topic: str = "nightline.intake", code: str = "schema_violation", **kw: object
) -> DeadLetter:
    return DeadLetter(
        source_topic=topic, source_partition=1, source_offset=42, reason_code=code,
        reason="voice_call.caller.callback_number: string_pattern_mismatch", raw_size=321,
        raw_encrypted="gAAAA-secret", at=kw.pop("at", AT), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "age"),
    [("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)),
     ("1h", timedelta(hours=1)), (" 2D ", timedelta(days=2))],
)  # fmt: skip
def test_ages(text: str, age: timedelta) -> None:
    assert parse_age(text) == age


@pytest.mark.parametrize("text", ["", "1", "h", "1w", "-1h", "1.5h", "one hour"])
def test_bad_ages_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="90s, 30m, 1h or 2d"):
        parse_age(text)


def test_filters_combine() -> None:
    old = _letter(at=AT - timedelta(hours=2))
    fcm = _letter("push.fcm", "push_rejected")
    acks = _letter("nightline.acks", "invalid_json")
    new = _letter()
    letters = [old, fcm, acks, new]
    assert select(letters) == letters
    assert select(letters, not_before=AT - timedelta(hours=1)) == [fcm, acks, new]
    intake = frozenset({"intake", "nightline.intake"})
    assert select(letters, topics=intake) == [old, new]
    assert select(letters, topics=frozenset({"push.fcm"})) == [fcm]
    assert select(letters, topics=intake, reason_code="invalid_json") == []
    assert select(letters, reason_code="push_rejected") == [fcm]


def test_a_line_holds_what_is_in_clear_and_never_the_raw_bytes() -> None:
    event_id = uuid.uuid4()
    letter = _letter(practice_id="demo-peds", intake_event_id=event_id)
    line = describe(letter)
    assert line.split("  ") == [
        str(letter.event_id), "2026-11-29T08:00:00+00:00", "nightline.intake[1]@42",
        "practice=demo-peds", f"intake_event={event_id}", "schema_violation", "321B",
        "voice_call.caller.callback_number: string_pattern_mismatch",
    ]  # fmt: skip
    assert "secret" not in line
    assert "practice=-  intake_event=-" in describe(_letter())


def test_show_refuses_without_the_flag_before_reading_anything() -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}  # would fail if it were contacted
    result = CliRunner().invoke(main, ["deadletter", "show", str(uuid.uuid4())], env=env)
    assert result.exit_code == 2
    assert "may hold PHI" in result.output and "--i-understand-this-shows-phi" in result.output
