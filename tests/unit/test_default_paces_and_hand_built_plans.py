"""The default paces the README documents, a plan built from levels made by hand (their
own pace kept), a practice's local time, and a routine message at a practice whose
office never opens (dispatched, still routine).

Found by the mutation audit (``make mutation``). Synthetic ids only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from engine.domain.escalation import build_plan
from engine.domain.oncall import EscalationChain, Level
from engine.domain.practice import EscalationPolicy, OfficeHours, Practice, SimpleSchedule
from engine.domain.triage import TriageAction, triage
from engine.schemas.intake import CallReason, Urgency
from tests.unit.practice_factories import event, practice


def _flat() -> Practice:
    return Practice(
        practice_id="p-flat",
        name="Flat",
        timezone="America/Chicago",
        schedule=SimpleSchedule(default_primary=["dr-a"]),
    )


def test_the_default_paces_are_the_documented_ones() -> None:
    """README: emergency 60 s with 2 re-pages, urgent 300 s with 1, routine 1800 s with none."""
    paces = {u: _flat().policy_for(u) for u in Urgency}
    assert paces == {
        Urgency.EMERGENCY: EscalationPolicy(ack_timeout_seconds=60, repeats=2),
        Urgency.URGENT: EscalationPolicy(ack_timeout_seconds=300, repeats=1),
        Urgency.ROUTINE: EscalationPolicy(ack_timeout_seconds=1800, repeats=0),
    }


def test_a_hand_built_level_keeps_its_own_pace() -> None:
    chain = EscalationChain(
        (
            Level("primary", ("dr-a",), ack_timeout_seconds=45, repeats=2),
            Level("operator", ("desk-1",), is_operator=True),
        )
    )
    plan = build_plan(chain, EscalationPolicy(ack_timeout_seconds=300, repeats=0))
    clinician_steps = [s for s in plan.steps if not s.is_operator]
    assert [(s.timeout_seconds, s.attempt) for s in clinician_steps] == [(45, 1), (45, 2), (45, 3)]


def test_a_practice_reads_instants_on_its_own_clock() -> None:
    local = _flat().local(datetime(2026, 1, 7, 18, 0, tzinfo=UTC))
    assert local.replace(tzinfo=None) == datetime(2026, 1, 7, 12, 0)  # CST, UTC-6
    assert str(local.tzinfo) == "America/Chicago"


def test_a_routine_message_at_an_office_that_never_opens_is_dispatched_as_routine() -> None:
    refill = event(reason=CallReason.PRESCRIPTION_REFILL)
    result = triage(refill, practice(office_hours=OfficeHours()), datetime(2026, 1, 7, tzinfo=UTC))
    assert (result.urgency, result.action) == (Urgency.ROUTINE, TriageAction.DISPATCH)
