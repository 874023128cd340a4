"""The corpus test: natural, synthetic messages at 03:00 with a routine reason code.

No message labelled urgent or emergency may be triaged lower than its label (a miss),
and at most OVER_TRIAGE_BOUND of the routine ones may be triaged higher. Both rates are
printed (``pytest -s``) and reported in the README.
"""

from __future__ import annotations

import pytest

from engine.domain.triage import TriageAction, triage
from engine.schemas.intake import Urgency
from tests.unit.practice_factories import at, practice
from tests.unit.triage_corpus import corpus_event, load_corpus

OVER_TRIAGE_BOUND = 0.10
NIGHT = at("2026-01-07 03:00")  # a Wednesday; the practice's office opens at 09:00
ISSUE_MESSAGES = (
    "she had two seizures tonight",
    "my chest is painful",
    "he vomited blood",
    "my son can't breathe",
    "took an overdose of her pills",
)
CORPUS = load_corpus()
PRACTICE = practice()


def test_the_corpus_is_large_and_varied() -> None:
    raised = [m for m in CORPUS if m.minimum is not Urgency.ROUTINE]
    assert len(raised) >= 150
    assert len(CORPUS) - len(raised) >= 80
    assert {m.channel for m in CORPUS} == {
        "sms",
        "chat",
        "email",
        "web_form",
        "voicemail",
        "voice_call",
    }
    assert set(ISSUE_MESSAGES) <= {m.text for m in raised}


def test_no_urgent_message_is_missed_and_over_triage_is_bounded() -> None:
    results = [(m, triage(corpus_event(m), PRACTICE, NIGHT)) for m in CORPUS]
    raised = [(m, r) for m, r in results if m.minimum is not Urgency.ROUTINE]
    routine = [(m, r) for m, r in results if m.minimum is Urgency.ROUTINE]
    missed = [(m, r) for m, r in raised if r.urgency.rank < m.minimum.rank]
    over = [(m, r) for m, r in routine if r.urgency is not Urgency.ROUTINE]
    print(
        f"\ntriage corpus: {len(missed)} of {len(raised)} urgent or emergency messages missed "
        f"({len(missed) / len(raised):.1%}); {len(over)} of {len(routine)} routine messages "
        f"over-triaged ({len(over) / len(routine):.1%})"
    )
    assert not missed, "\n".join(
        f"line {m.line}: {m.minimum} triaged {r.urgency} {r.reasons}" for m, r in missed
    )
    assert len(over) <= OVER_TRIAGE_BOUND * len(routine), "\n".join(
        f"line {m.line}: routine triaged {r.urgency} {r.reasons}" for m, r in over
    )


@pytest.mark.parametrize("text", ISSUE_MESSAGES)
def test_the_issue_messages_are_dispatched_at_night(text: str) -> None:
    """Reason 'appointment' at 03:00 with the office closed: dispatched, not held."""
    (message,) = [m for m in CORPUS if m.text == text]
    result = triage(corpus_event(message), PRACTICE, NIGHT)
    assert result.urgency is Urgency.EMERGENCY
    assert result.action is TriageAction.DISPATCH and result.release_at is None
