"""Exceptions in logs: type and place only, never the message (it may quote PHI)."""

from __future__ import annotations

from engine.failures import describe_failure
from engine.schemas.intake import Urgency


def test_a_failure_is_described_by_type_and_place_without_its_message() -> None:
    try:
        Urgency("Jane Q Patient 555-0100")  # the enum quotes the value in its message
    except ValueError as exc:
        text = describe_failure(exc)
    assert text.startswith("ValueError at ") and ".py:" in text
    assert "Jane" not in text and "555" not in text


def test_an_exception_never_raised_has_only_its_type() -> None:
    assert describe_failure(KeyError("Jane Q Patient")) == "KeyError"
