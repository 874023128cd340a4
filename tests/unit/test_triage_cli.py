"""``nightline triage`` and ``nightline schedule who --json`` with click's CliRunner:
practice files (``--file``) and an in-memory store in place of Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from engine.cli import main
from engine.practice_files import load_practice_file
from tests.unit.test_schedule_cli import CLINIC_A, FakeStore, store  # noqa: F401 (fixture)

SUNNY = str(Path(__file__).resolve().parents[1] / "fixtures" / "triage" / "sunny-clinic.yaml")
SUNDAY_NIGHT = "2026-12-06T03:00"  # local (Chicago): the office opens Monday 09:00


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def triage_json(*args: str) -> dict[str, Any]:
    result = run("triage", "sunny-clinic", "--file", SUNNY, "--json", *args)
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.output)
    return parsed


def test_an_emergency_in_natural_words_is_dispatched() -> None:
    out = triage_json("--message", "she had two seizures tonight", "--reason", "appointment")
    assert out == {
        "urgency": "emergency",
        "action": "dispatch",
        "rules": ["reason:appointment", "red_flag:seizure"],
        "release_at": None,
    }


def test_a_routine_message_at_night_is_held_until_the_office_opens() -> None:
    out = triage_json(
        "--message",
        "can you refill my lisinopril",
        "--reason",
        "prescription_refill",
        "--at",
        SUNDAY_NIGHT,
    )
    assert out == {
        "urgency": "routine",
        "action": "hold_for_office",
        "rules": ["reason:prescription_refill", "after_hours"],
        "release_at": "2026-12-07T09:00:00-06:00",
    }


@pytest.mark.parametrize(
    ("at", "action"),
    [
        ("2026-12-07T10:00", "deliver_to_office"),  # local time: Monday 10:00 in Chicago
        ("2026-12-07T10:00:00-05:00", "deliver_to_office"),  # 09:00 in Chicago
        ("2026-12-07T09:00:00+00:00", "hold_for_office"),  # 03:00 in Chicago
        ("2026-12-07", "hold_for_office"),  # a date: local midnight
    ],
)
def test_at_is_aware_or_the_practice_s_local_time(at: str, action: str) -> None:
    out = triage_json("--message", "billing question", "--reason", "billing", "--at", at)
    assert out["action"] == action


def test_the_practice_s_own_rules_apply() -> None:
    keyword = triage_json("--message", "he keeps tugging at his ear", "--at", SUNDAY_NIGHT)
    assert keyword["urgency"] == "urgent" and "keyword:urgent" in keyword["rules"]
    moved = triage_json("--message", "fever and he is on chemo", "--at", SUNDAY_NIGHT)
    assert moved["urgency"] == "urgent"  # the practice moved high_risk_fever to urgent
    assert "red_flag:high_risk_fever" in moved["rules"]


def test_date_of_birth_and_channel_reach_the_rules() -> None:
    out = triage_json(
        "--message",
        "she has a fever",
        "--date-of-birth",
        "2026-11-20",
        "--at",
        "2026-12-06T03:00",
        "--channel",
        "voicemail",
    )
    assert out["urgency"] == "emergency" and "red_flag:infant_fever" in out["rules"]
    call = triage_json(
        "--message",
        "caller's child is not breathing",
        "--channel",
        "voice_call",
        "--caller-type",
        "parent_guardian",
    )
    assert call["action"] == "dispatch" and "red_flag:breathing" in call["rules"]


def test_text_output_names_urgency_action_rules_and_release() -> None:
    result = run(
        "triage",
        "sunny-clinic",
        "--file",
        SUNNY,
        "--message",
        "refill please",
        "--reason",
        "prescription_refill",
        "--at",
        SUNDAY_NIGHT,
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "urgency  routine",
        "action   hold_for_office",
        "rules    reason:prescription_refill, after_hours",
        "release  2026-12-07T09:00:00-06:00",
    ]


def test_the_message_is_never_printed() -> None:
    result = run("triage", "sunny-clinic", "--file", SUNNY, "--message", "Quokka-7319 seizure")
    assert result.exit_code == 0 and "Quokka" not in result.output


def test_reads_the_practice_from_the_store(store: FakeStore) -> None:  # noqa: F811
    store.put(load_practice_file(Path(SUNNY)).practice, "cli")
    result = run("triage", "sunny-clinic", "--message", "my chest is painful", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rules"] == [
        "reason:office_routine",
        "red_flag:chest_pain",
        "red_flag:pain",
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--message", "x", "--at", "soon"], 2, "'soon' is not an ISO 8601 date or time"),
        (["--message", "x", "--channel", "fax"], 2, "Invalid value for '--channel'"),
        (["--message", "x", "--reason", "chat"], 2, "Invalid value for '--reason'"),
        (["--message", "x" * 8001], 1, "not a valid message: sms.message: string_too_long"),
        ([], 2, "Missing option '--message'"),
    ],
)
def test_bad_input_is_a_clear_error(args: list[str], code: int, message: str) -> None:
    result = run("triage", "sunny-clinic", "--file", SUNNY, *args)
    assert result.exit_code == code
    assert message in result.output
    assert "xxxxxxxx" not in result.output  # errors name fields, never values


def test_a_file_for_another_practice_is_refused() -> None:
    result = run("triage", "clinic-a", "--file", SUNNY, "--message", "hi")
    assert result.exit_code == 1
    assert "defines 'sunny-clinic', not 'clinic-a'" in result.output


def test_schedule_who_json_lists_the_levels_in_paging_order() -> None:
    result = run(
        "schedule", "who", "clinic-a", "--file", CLINIC_A, "--at", "2026-12-03T20:00", "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "practice": "clinic-a",
        "at": "2026-12-03T20:00:00-05:00",
        "urgency": "urgent",
        "group": None,
        "levels": [
            {
                "name": "primary",
                "targets": ["dr-b"],
                "operator": False,
                "ack_timeout_seconds": 30.0,
                "repeats": 2,
            },
            {
                "name": "backup",
                "targets": ["np-c"],
                "operator": False,
                "ack_timeout_seconds": 45.0,
                "repeats": 0,
            },
            {
                "name": "operator",
                "targets": ["desk-a"],
                "operator": True,
                "ack_timeout_seconds": None,
                "repeats": 0,
            },
        ],
    }


def test_schedule_who_json_names_the_group_and_urgency() -> None:
    result = run(
        "schedule",
        "who",
        "clinic-a",
        "--file",
        CLINIC_A,
        "--at",
        "2026-12-01T12:00:00-05:00",
        "--group",
        "main",
        "--urgency",
        "emergency",
        "--json",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["group"], out["urgency"]) == ("main", "emergency")
    assert out["levels"][0]["targets"] == ["dr-a"]  # the swap-1 override
    assert out["levels"][-1]["operator"] is True
