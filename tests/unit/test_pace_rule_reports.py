"""How breaches of the escalation pace rule are reported: every place at fault once,
named against the nearest less urgent urgency; every pair of policies checked even
after pairs that are skipped; two urgencies on the practice-wide pace reported there
only. (``test_escalation_pace`` pins the rule itself.)

Found by the mutation audit (``make mutation``).
"""

from __future__ import annotations

from engine.domain.pace import pace_problems
from engine.domain.practice import EscalationPolicy
from engine.domain.schedule import SchedulePolicy
from engine.schemas.intake import Urgency

E, U, R = Urgency.EMERGENCY, Urgency.URGENT, Urgency.ROUTINE
RULE = "a more urgent message must never wait longer"


def pace(timeout: float, repeats: int = 0) -> EscalationPolicy:
    return EscalationPolicy(ack_timeout_seconds=timeout, repeats=repeats)


IN_ORDER = {E: pace(60, 2), U: pace(300, 1), R: pace(1800)}


def policy(*timeouts: float) -> SchedulePolicy:
    """Primary, then backup, ... one level per timeout, no re-pages."""
    roles = ["primary", "backup"]
    levels = [
        {"targets": [{"kind": "role", "role": roles[i]}], "ack_timeout_seconds": t}
        for i, t in enumerate(timeouts)
    ]
    return SchedulePolicy.model_validate({"levels": levels})


def test_every_urgency_at_fault_is_reported() -> None:
    escalation = {E: pace(400), U: pace(300, 1), R: pace(250)}
    assert pace_problems(escalation, {}) == [
        (
            ("escalation", "emergency", "ack_timeout_seconds"),
            f"waits 400 s for an acknowledgement, longer than urgent (300 s): {RULE}",
        ),
        (
            ("escalation", "urgent", "ack_timeout_seconds"),
            f"waits 300 s for an acknowledgement, longer than routine (250 s): {RULE}",
        ),
    ]


def test_a_breach_is_named_against_the_nearest_less_urgent_urgency() -> None:
    [(loc, text)] = pace_problems({**IN_ORDER, E: pace(2000)}, {})
    assert loc == ("escalation", "emergency", "ack_timeout_seconds")
    assert text.startswith("waits 2000 s for an acknowledgement, longer than urgent (300 s)")


def test_each_policy_at_fault_is_reported() -> None:
    policies = {E: policy(500), U: policy(400), R: policy(300)}
    assert [loc for loc, _ in pace_problems(IN_ORDER, policies)] == [
        ("escalation_policies", "emergency", "levels", 0, "ack_timeout_seconds"),
        ("escalation_policies", "urgent", "levels", 0, "ack_timeout_seconds"),
    ]


def test_pairs_after_skipped_ones_are_still_checked() -> None:
    """Urgent borrows emergency's levels, so the pairs with urgent are skipped; emergency
    against routine is still compared."""
    problems = pace_problems(IN_ORDER, {E: policy(500), R: policy(300)})
    assert problems == [
        (
            ("escalation_policies", "emergency", "levels", 0, "ack_timeout_seconds"),
            "waits 500 s for an acknowledgement, longer than routine's level 1 (300 s): " + RULE,
        )
    ]


def test_two_urgencies_on_the_practice_wide_pace_are_reported_there_only() -> None:
    """Only routine has a policy: emergency and urgent page its levels at their
    escalation pace, and emergency's being slower than urgent's is one problem."""
    problems = pace_problems({**IN_ORDER, E: pace(400)}, {R: policy(3000)})
    assert [loc for loc, _ in problems] == [("escalation", "emergency", "ack_timeout_seconds")]
