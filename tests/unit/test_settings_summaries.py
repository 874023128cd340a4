"""What the portal's settings pages summarise: how long an escalation pages before the
desk is alerted (from the plan a dispatch would freeze) and the public holidays ahead."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from engine.domain.escalation import dispatch_plan
from engine.domain.holiday_calendars import holidays_between
from engine.domain.schedule import SchedulePolicy
from engine.practice_files import load_practice_file
from engine.schemas.intake import Urgency

MAPLE = Path(__file__).resolve().parents[2] / "deploy" / "practices" / "maple-pediatrics.yaml"
AT = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def test_the_desk_follows_every_page_and_re_page_of_the_clinician_levels() -> None:
    maple = load_practice_file(MAPLE).practice
    # emergency: STAT 45 s paged twice, second call 60 s, medical director 90 s
    assert dispatch_plan(maple, Urgency.EMERGENCY, None, AT).seconds_before_desk == 240
    # urgent: first call 300 s paged twice, second call 300 s
    assert dispatch_plan(maple, Urgency.URGENT, None, AT).seconds_before_desk == 900


def test_a_changed_timeout_changes_the_time_before_the_desk() -> None:
    maple = load_practice_file(MAPLE).practice
    emergency = maple.escalation_policies[Urgency.EMERGENCY].model_dump()
    emergency["levels"][1]["ack_timeout_seconds"] = 75.5
    emergency["levels"][2]["repeats"] = 2
    policies = {**maple.escalation_policies,
                Urgency.EMERGENCY: SchedulePolicy.model_validate(emergency)}  # fmt: skip
    changed = maple.model_copy(update={"escalation_policies": policies})
    assert dispatch_plan(changed, Urgency.EMERGENCY, None, AT).seconds_before_desk == 435.5


def test_a_flat_practice_pages_primary_then_backup_at_its_escalation_pace() -> None:
    maple = load_practice_file(MAPLE).practice
    flat = maple.model_copy(update={"coverage_groups": [], "escalation_policies": {}})
    pace = flat.escalation[Urgency.URGENT]
    assert (pace.ack_timeout_seconds, pace.repeats) == (300, 1)
    assert dispatch_plan(flat, Urgency.URGENT, None, AT).seconds_before_desk == 1200


def test_the_holidays_ahead_are_listed_with_their_names_in_order() -> None:
    found = holidays_between("US", date(2027, 6, 1), date(2027, 7, 31))
    assert [day for day, _ in found] == [date(2027, 6, 18), date(2027, 6, 19),
                                         date(2027, 7, 4), date(2027, 7, 5)]  # fmt: skip
    assert "Independence Day" in dict(found)[date(2027, 7, 4)]
    assert holidays_between("US", date(2027, 7, 6), date(2027, 7, 31)) == []
