"""The synthetic sample events used by `nightline publish --sample` and the demo."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from engine.samples import SAMPLE_KINDS, sample_event
from engine.schemas.intake import SmsMessage, Urgency, VoiceCall

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def test_each_kind_is_a_valid_synthetic_event() -> None:
    urgent, emergency, routine = (sample_event(k, "demo-peds", NOW) for k in SAMPLE_KINDS)
    assert isinstance(urgent, VoiceCall) and urgent.operator_urgency is Urgency.URGENT
    assert isinstance(emergency, VoiceCall) and "seizure" in emergency.message
    assert isinstance(routine, SmsMessage)
    for event in (urgent, emergency, routine):
        assert event.practice_id == "demo-peds" and event.received_at == NOW
        assert event.patient is not None and event.patient.name.startswith("Synthetic")


def test_a_given_event_id_is_kept_and_names_the_call() -> None:
    event_id = uuid.UUID(int=7)
    event = sample_event("urgent", "demo-peds", NOW, event_id)
    assert isinstance(event, VoiceCall)
    assert event.event_id == event_id and event.call_id == f"call-{event_id.hex[:8]}"


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="choose from"):
        sample_event("chatty", "demo-peds", NOW)
