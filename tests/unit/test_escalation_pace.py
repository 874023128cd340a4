"""The escalation pace rule, checked when a practice is validated: every urgency has a
practice-wide pace, and no urgency waits longer than a less urgent one, whether it
pages with its own policy's levels or borrows another urgency's."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from engine.domain.practice import EscalationPolicy, Practice
from engine.domain.schedule import SchedulePolicy
from engine.schemas.intake import Urgency

DEFAULTS = {
    "emergency": {"ack_timeout_seconds": 60, "repeats": 2},
    "urgent": {"ack_timeout_seconds": 300, "repeats": 1},
    "routine": {"ack_timeout_seconds": 1800, "repeats": 0},
}


def policy(*timeouts: float, repeats: int = 0, desk_last: bool = False) -> dict[str, Any]:
    """A schedule policy paging the primary, then the backup, ... one level per timeout."""
    roles = ["primary", "backup", "primary", "backup"]
    levels: list[dict[str, Any]] = [
        {
            "targets": [{"kind": "role", "role": roles[i]}],
            "ack_timeout_seconds": t,
            "repeats": repeats,
        }
        for i, t in enumerate(timeouts)
    ]
    if desk_last:
        levels.append({"targets": [{"kind": "operator"}], "ack_timeout_seconds": 1})
    return {"levels": levels}


def practice(**fields: Any) -> Practice:
    base: dict[str, Any] = {
        "practice_id": "p-pace",
        "name": "Pace",
        "timezone": "America/New_York",
        "clinicians": [{"clinician_id": "dr-a", "display_name": "A"}],
        "coverage_groups": [
            {
                "group_id": "g",
                "name": "G",
                "layers": [
                    {"layer_id": "l", "participants": ["dr-a"], "shift_length": 1,
                     "start_date": "2026-01-05"},
                ],
            }
        ],
    }  # fmt: skip
    return Practice.model_validate(base | fields)


def problems(**fields: Any) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        practice(**fields)
    return [(tuple(e["loc"]), e["msg"]) for e in caught.value.errors()]


def test_the_defaults_and_equal_paces_are_in_order() -> None:
    assert practice().policy_for(Urgency.EMERGENCY).ack_timeout_seconds == 60
    same = {u: {"ack_timeout_seconds": 30, "repeats": 1} for u in DEFAULTS}
    assert practice(escalation=same).policy_for(Urgency.ROUTINE).ack_timeout_seconds == 30


@pytest.mark.parametrize(
    ("escalation", "missing"),
    [({}, "emergency, urgent, routine"), ({"urgent": DEFAULTS["urgent"]}, "emergency, routine")],
)
def test_escalation_must_define_every_urgency(escalation: dict[str, Any], missing: str) -> None:
    assert problems(escalation=escalation) == [
        (
            ("escalation",),
            f"must define every urgency (missing: {missing}); "
            "leave escalation out to use the defaults",
        )
    ]


def test_an_emergency_may_not_wait_longer_than_an_urgent_message() -> None:
    slow = DEFAULTS | {"emergency": {"ack_timeout_seconds": 400, "repeats": 0}}
    [(loc, message)] = problems(escalation=slow)
    assert loc == ("escalation", "emergency", "ack_timeout_seconds")
    assert message == (
        "waits 400 s for an acknowledgement, longer than urgent (300 s): "
        "a more urgent message must never wait longer"
    )


def test_re_pages_count_towards_the_time_on_a_level() -> None:
    # 200 s per page is faster than urgent's 300 s, but 3 pages keep it 600 s on the
    # level, longer than routine's 500 s
    paces = {
        "emergency": {"ack_timeout_seconds": 60, "repeats": 0},
        "urgent": {"ack_timeout_seconds": 200, "repeats": 2},
        "routine": {"ack_timeout_seconds": 500, "repeats": 0},
    }
    [(loc, message)] = problems(escalation=paces)
    assert loc == ("escalation", "urgent", "repeats")
    assert message.startswith("stays 600 s on a level with its re-pages, longer than routine")


def test_a_slower_level_of_a_more_urgent_policy_is_named_by_its_place() -> None:
    found = problems(escalation_policies={"emergency": policy(60, 600), "urgent": policy(120, 300)})
    assert found == [
        (
            ("escalation_policies", "emergency", "levels", 1, "ack_timeout_seconds"),
            "waits 600 s for an acknowledgement, longer than urgent's level 2 (300 s): "
            "a more urgent message must never wait longer",
        )
    ]


def test_an_emergency_borrowing_urgent_levels_may_not_page_them_slower() -> None:
    # no emergency policy: emergencies page the urgent levels at escalation.emergency's
    # pace (60 s by default), slower than urgent's own 30 s
    [(loc, message)] = problems(escalation_policies={"urgent": policy(30)})
    assert loc == ("escalation_policies",)
    assert message.startswith(
        "emergency has no policy, so it pages urgent's levels at escalation.emergency's pace, "
        "which waits 60 s for an acknowledgement, longer than urgent's level 1 (30 s)"
    )


def test_borrowing_is_fine_at_a_pace_no_slower() -> None:
    fast = DEFAULTS | {"emergency": {"ack_timeout_seconds": 20, "repeats": 0}}
    chosen = practice(escalation=fast, escalation_policies={"urgent": policy(30)})
    assert chosen.schedule_policy_for(Urgency.EMERGENCY) == (
        chosen.escalation_policies[Urgency.URGENT],
        False,  # the levels only: the emergency's own pace applies
    )


def test_a_policy_borrowed_from_a_more_urgent_urgency_keeps_its_pace() -> None:
    chosen = practice(escalation_policies={"emergency": policy(900)})
    assert chosen.schedule_policy_for(Urgency.ROUTINE) == (
        chosen.escalation_policies[Urgency.EMERGENCY],
        True,
    )
    assert chosen.schedule_policy_for(Urgency.EMERGENCY) is not None
    assert practice().schedule_policy_for(Urgency.URGENT) is None


def test_levels_only_one_policy_has_are_not_compared() -> None:
    # the emergency's third level (a medical director, 900 s) has no urgent counterpart;
    # the urgent policy's desk level is not a clinician level
    chosen = practice(
        escalation_policies={
            "emergency": policy(60, 120, 900),
            "urgent": policy(300, 300, desk_last=True),
        }
    )
    assert len(chosen.escalation_policies[Urgency.EMERGENCY].levels) == 3


def test_the_operator_desk_ends_a_policy_and_pages_alone() -> None:
    early = {"levels": [{"targets": [{"kind": "operator"}], "ack_timeout_seconds": 5},
                        {"targets": [{"kind": "role", "role": "primary"}],
                         "ack_timeout_seconds": 5}]}  # fmt: skip
    mixed = {"levels": [{"targets": [{"kind": "clinician", "clinician_id": "dr-a"},
                                     {"kind": "operator"}], "ack_timeout_seconds": 5}]}  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        SchedulePolicy.model_validate(early)
    assert [(e["loc"], e["msg"]) for e in caught.value.errors()] == [
        (("levels", 0, "targets", 0), "the operator desk may only be the last level")
    ]
    with pytest.raises(ValidationError) as caught:
        SchedulePolicy.model_validate(mixed)
    assert [(e["loc"], e["msg"]) for e in caught.value.errors()] == [
        (("levels", 0, "targets", 0), "a level with the operator desk pages only the desk")
    ]


def test_policy_for_never_gives_a_practice_built_without_validation_a_slower_pace() -> None:
    valid = practice()
    urgent_only = valid.model_copy(
        update={"escalation": {Urgency.URGENT: EscalationPolicy(ack_timeout_seconds=30)}}
    )
    # neither the urgent 30 s nor the emergency default 60 s is slower than what it gets
    assert urgent_only.policy_for(Urgency.EMERGENCY).ack_timeout_seconds == 30
    empty = valid.model_copy(update={"escalation": {}})
    assert empty.policy_for(Urgency.EMERGENCY) == EscalationPolicy(
        ack_timeout_seconds=60, repeats=2
    )
