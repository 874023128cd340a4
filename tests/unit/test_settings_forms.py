"""The settings pages' form fields: escalation targets, a layer and opening hours as
typed, read back into the practice model, and what is refused in plain words."""

from __future__ import annotations

from datetime import date, time

import pytest
from pydantic import ValidationError

from engine.domain.practice import OfficeHours
from engine.domain.schedule import LevelTarget
from engine.domain.weekdays import Weekday
from engine.portal.routes.escalation import target_from_text, target_text
from engine.portal.routes.office_hours import hours_from_text, hours_text
from engine.portal.routes.rotations import layer_fields, layer_from_fields
from engine.portal.routes.settings_forms import form_problems


@pytest.mark.parametrize(("line", "target"), [
    ("primary of peds", LevelTarget(kind="role", role="primary", group_id="peds")),
    ("backup", LevelTarget(kind="role", role="backup")),
    ("clinician dr-a", LevelTarget(kind="clinician", clinician_id="dr-a")),
    ("group peds", LevelTarget(kind="group", group_id="peds")),
    ("group", LevelTarget(kind="group")),
    ("desk", LevelTarget(kind="operator")),
])  # fmt: skip
def test_a_target_reads_as_typed_and_is_shown_the_same_way(line: str, target: LevelTarget) -> None:
    assert target_from_text(line) == target
    assert target_text(target) == line


@pytest.mark.parametrize("line", ["", "somebody", "clinician", "primary for peds", "desk now"])
def test_an_unreadable_target_says_how_to_write_one(line: str) -> None:
    with pytest.raises(ValueError, match="a target is one of: primary of GROUP"):
        target_from_text(line)


def test_a_layer_form_reads_participants_in_order_and_restrictions_by_line() -> None:
    layer = layer_from_fields("nights", {
        "name": " Nights ", "role": "backup", "participants": "np-b\n\n np-a \n",
        "shift_length": "2", "shift_unit": "days", "handoff_time": "17:30",
        "start_date": "2026-01-05", "end_date": "",
        "restrictions": "Mon tue 17:00-08:00\n\nsat 08:00-08:00",
    })  # fmt: skip
    assert layer.participants == ["np-b", "np-a"]
    assert (layer.name, layer.role.value, layer.shift_length) == ("Nights", "backup", 2)
    assert (layer.handoff_time, layer.start_date, layer.end_date) == (
        time(17, 30), date(2026, 1, 5), None)  # fmt: skip
    assert [(r.days, r.start, r.end) for r in layer.restrictions] == [
        ([Weekday.MON, Weekday.TUE], time(17), time(8)),
        ([Weekday.SAT], time(8), time(8)),
    ]
    assert layer_fields(layer)["restrictions"] == "mon tue 17:00-08:00\nsat 08:00-08:00"
    assert layer_fields(layer)["participants"] == "np-b\nnp-a"


def test_a_wrong_layer_form_names_the_fields_not_the_values() -> None:
    with pytest.raises(ValidationError) as caught:
        layer_from_fields("nights", {"participants": "", "shift_length": "zero-ish",
                                     "shift_unit": "days", "start_date": "2026-01-05"})  # fmt: skip
    problems = form_problems(caught.value)
    assert any(p.startswith("participants:") for p in problems)
    assert any(p.startswith("shift_length:") for p in problems)
    assert not any("zero-ish" in p for p in problems)
    with pytest.raises(ValueError, match="restriction line 1: write days then hours"):
        layer_from_fields("nights", {"restrictions": "mon 17:00"})


def test_opening_hours_read_as_typed_and_show_the_same_way() -> None:
    assert hours_from_text(" 08:00-12:00 ,13:00-17:00, ") == [
        {"start": "08:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]  # fmt: skip
    assert hours_from_text("") == []
    hours = OfficeHours.model_validate(
        {"weekly": {"mon": hours_from_text("08:00-12:00, 13:00-17:00")}}
    )
    assert hours_text(hours, Weekday.MON) == "08:00-12:00, 13:00-17:00"
    assert hours_text(hours, Weekday.SUN) == ""
    with pytest.raises(ValueError, match="08:00-12:00, 13:00-17:00"):
        hours_from_text("all day")
