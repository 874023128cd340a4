"""Practice file loading: valid samples load; every kind of error is reported
with the line of the offending node, all of them at once."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from engine.domain.schedule import Override
from engine.practice_files import (
    PracticeFileError,
    check_practice,
    load_practice_file,
    load_practice_text,
)
from engine.schemas.intake import Urgency

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "practices"

BASE = """\
practice_id: tiny
name: Tiny Clinic
timezone: America/New_York
clinicians:
  - {clinician_id: dr-a, display_name: A}
  - {clinician_id: dr-b, display_name: B}
coverage_groups:
  - group_id: g1
    name: Group one
    layers:
      - layer_id: weekly
        participants: [dr-a, dr-b]
        shift_length: 1
        shift_unit: weeks
        handoff_time: 17:30
        start_date: 2026-01-05
    overrides:
      - {override_id: o1, clinician_id: dr-a, start: 2026-02-01T08:00Z, end: 2026-02-02T08:00Z}
      - {override_id: o2, clinician_id: dr-b, start: 2026-02-02T08:00Z, end: 2026-02-03T08:00Z}
default_group: g1
escalation_policies:
  urgent:
    levels:
      - targets: [{kind: role, group_id: g1, role: primary}]
        ack_timeout_seconds: 45
      - targets: [{kind: clinician, clinician_id: dr-b}]
        ack_timeout_seconds: 60
escalation:
  emergency: {ack_timeout_seconds: 30, repeats: 0}
  urgent: {ack_timeout_seconds: 300, repeats: 1}
  routine: {ack_timeout_seconds: 1800, repeats: 0}
"""


def edit(changes: dict[int, str]) -> str:
    """BASE with whole lines replaced, by 1-based line number."""
    lines = BASE.splitlines()
    for number, text in changes.items():
        lines[number - 1] = text
    return "\n".join(lines) + "\n"


def problems(text: str) -> list[str]:
    with pytest.raises(PracticeFileError) as caught:
        load_practice_text(text, "tiny.yaml")
    return [str(issue) for issue in caught.value.issues]


def test_base_loads_and_unquoted_times_stay_times() -> None:
    loaded = load_practice_text(BASE)
    layer = loaded.practice.coverage_groups[0].layers[0]
    assert layer.handoff_time == time(17, 30)  # YAML 1.1 would have read 1050


@pytest.mark.parametrize(
    "name",
    [
        "deploy/practices/maple-pediatrics.yaml",
        "deploy/practices/demo-pediatrics.yaml",
        "tests/fixtures/practices/clinic-a.yaml",
        "tests/fixtures/practices/clinic-b.yaml",
    ],
)
def test_sample_files_load(name: str) -> None:
    loaded = load_practice_file(ROOT / name)
    assert loaded.practice.practice_id


def test_maple_sample_is_multi_group_with_a_sub_minute_stat_level() -> None:
    loaded = load_practice_file(ROOT / "deploy/practices/maple-pediatrics.yaml")
    practice = loaded.practice
    assert len(practice.coverage_groups) == 2
    stat = practice.escalation_policies[Urgency.EMERGENCY].levels[0]
    assert stat.ack_timeout_seconds < 60


CASES = [
    (
        {13: "        shift_length: 0"},
        "tiny.yaml:13: coverage_groups[0].layers[0].shift_length: must be at least 1",
    ),
    ({3: "timezone: Mars/Olympus_Mons"}, "tiny.yaml:3: timezone: unknown IANA time zone"),
    (
        {12: "        participants: [dr-a, dr-x]"},
        "tiny.yaml:12: coverage_groups[0].layers[0].participants[1]: unknown clinician 'dr-x'",
    ),
    (
        {
            19: "      - {override_id: o2, clinician_id: dr-x, start: 2026-02-02T08:00Z, "
            "end: 2026-02-03T08:00Z}"
        },
        "tiny.yaml:19: coverage_groups[0].overrides[1].clinician_id: unknown clinician 'dr-x'",
    ),
    (
        {26: "      - targets: [{kind: clinician, clinician_id: dr-x}]"},
        "tiny.yaml:26: escalation_policies.urgent.levels[1].targets[0].clinician_id: "
        "unknown clinician 'dr-x'",
    ),
    (
        {24: "      - targets: [{kind: role, group_id: g9, role: primary}]"},
        "tiny.yaml:24: escalation_policies.urgent.levels[0].targets[0].group_id: unknown group",
    ),
    ({20: "default_group: g9"}, "tiny.yaml:20: default_group: unknown group 'g9'"),
    (
        {6: "  - {clinician_id: dr-a, display_name: B}"},
        "tiny.yaml:6: clinicians[1].clinician_id: duplicate clinician_id 'dr-a'",
    ),
    (
        {
            19: "      - {override_id: o1, clinician_id: dr-b, start: 2026-02-02T08:00Z, "
            "end: 2026-02-03T08:00Z}"
        },
        "tiny.yaml:19: coverage_groups[0].overrides[1].override_id: duplicate override_id 'o1'",
    ),
    (
        {
            19: "      - {override_id: o2, clinician_id: dr-b, start: 2026-02-01T20:00Z, "
            "end: 2026-02-03T08:00Z}"
        },
        "tiny.yaml:19: coverage_groups[0].overrides[1]: contradicts override 'o1'",
    ),
    (
        {24: "      - targets: [{kind: operator}]"},
        "tiny.yaml:24: escalation_policies.urgent.levels[0].targets[0]: the operator desk may only "
        "be the last level",
    ),
    ({9: "    title: Group one"}, "tiny.yaml:9: coverage_groups[0].title: unknown field"),
    ({9: "    # no name"}, "tiny.yaml:8: coverage_groups[0].name: required field is missing"),
    (
        {
            18: "      - {override_id: o1, clinician_id: dr-a, start: 2026-02-01T08:00, "
            "end: 2026-02-02T08:00Z}"
        },
        "tiny.yaml:18: coverage_groups[0].overrides[0].start: datetime must carry a time zone",
    ),
    (
        {29: "  emergency: {ack_timeout_seconds: 400, repeats: 0}"},
        "tiny.yaml:29: escalation.emergency.ack_timeout_seconds: waits 400 s for an "
        "acknowledgement, longer than urgent (300 s)",
    ),
    (
        {29: "  emergency: {ack_timeout_seconds: 50, repeats: 0}"},
        "tiny.yaml:21: escalation_policies: emergency has no policy, so it pages urgent's "
        "levels at escalation.emergency's pace, which waits 50 s",
    ),
    ({29: "  # no emergency"}, "tiny.yaml:28: escalation: must define every urgency"),
    (
        {26: "      - targets: [{kind: clinician, clinician_id: dr-b}, {kind: operator}]"},
        "tiny.yaml:26: escalation_policies.urgent.levels[1].targets[0]: a level with the "
        "operator desk pages only the desk",
    ),
    ({2: "practice_id: tiny"}, "tiny.yaml:2: practice_id: key appears twice"),
    ({13: "        shift_length: [1"}, "tiny.yaml:14: not valid YAML"),
]


@pytest.mark.parametrize(("changes", "expected"), CASES, ids=[c[1].split(": ")[-1] for c in CASES])
def test_each_error_names_its_line(changes: dict[int, str], expected: str) -> None:
    found = problems(edit(changes))
    assert any(p.startswith(expected) for p in found), found


def test_replace_overrides_that_only_touch_do_not_contradict() -> None:
    assert load_practice_text(BASE).practice.coverage_groups[0].overrides[1].override_id == "o2"


def test_the_operator_desk_as_last_level_is_fine() -> None:
    loaded = load_practice_text(edit({26: "      - targets: [{kind: operator}]"}))
    assert loaded.practice.escalation_policies


def test_all_errors_are_reported_together_in_line_order() -> None:
    text = edit(
        {
            3: "timezone: Nowhere/Land",
            13: "        shift_length: 0",
            20: "default_group: g9",
            26: "      - targets: [{kind: clinician, clinician_id: dr-x}]",
        }
    )
    with pytest.raises(PracticeFileError) as caught:
        load_practice_text(text, "tiny.yaml")
    assert [i.line for i in caught.value.issues] == [3, 13, 20, 26]
    assert str(caught.value).count("\n") == 3


def test_json_files_get_line_numbers_too() -> None:
    path = FIXTURES / "bad-shift.json"
    with pytest.raises(PracticeFileError) as caught:
        load_practice_file(path)
    assert [str(i) for i in caught.value.issues] == [
        f"{path}:9: coverage_groups[0].layers[0].shift_length: must be at least 1"
    ]


@pytest.mark.parametrize("text", ["", "- a list\n", "just text\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    assert problems(text) == ["tiny.yaml:1: expected a mapping at the top level"]


def test_check_practice_finds_problems_in_a_built_practice() -> None:
    practice = load_practice_text(BASE).practice
    group = practice.coverage_groups[0]
    clash = Override.model_validate(
        {
            "override_id": "o3",
            "clinician_id": "dr-b",
            "start": "2026-02-01T12:00Z",
            "end": "2026-02-01T13:00Z",
        }
    )
    changed = practice.model_copy(
        update={
            "coverage_groups": [group.model_copy(update={"overrides": [*group.overrides, clash]})]
        }
    )
    assert check_practice(practice) == []
    assert check_practice(changed) == [
        "coverage_groups[0].overrides[2]: contradicts override 'o1': both replace primary at "
        "overlapping times with different clinicians"
    ]


def test_a_devices_section_is_refused_with_where_phones_register() -> None:
    """A file could attach a phone to any clinician id, or take over another clinician's
    device id: phones register themselves, through the app or `nightline device`."""
    text = BASE + "devices:\n  - {device_id: a-phone, clinician_id: dr-a, platform: ios}\n"
    assert problems(text) == [
        "tiny.yaml:32: devices: devices are not part of a practice file: each phone registers "
        "itself through the app (the devices topic) or `nightline device register`; "
        "remove this section"
    ]
