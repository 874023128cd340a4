"""``nightline schedule who --at``: a naive local time is read by the schedules' own
rule (engine/domain/_wall_clock.py), so the chain shown is the one a dispatch at that
moment gets, and the header shows the real instant, never a local time that does not
exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from engine.cli.schedule import schedule

# A daily rotation handing off at 03:15 New York time, the hour after the 2026-03-08
# spring-forward gap (02:00-03:00 does not exist that night).
PRACTICE = """
practice_id: dst-clinic
name: DST Clinic
timezone: America/New_York
operator_desk: desk-d
clinicians:
  - {clinician_id: dr-a, display_name: Doctor A}
  - {clinician_id: dr-b, display_name: Doctor B}
coverage_groups:
  - group_id: main
    name: Main line
    layers:
      - {layer_id: daily, participants: [dr-a, dr-b], shift_length: 1, shift_unit: days,
         handoff_time: "03:15", start_date: 2026-03-01}
escalation_policies:
  emergency:
    levels:
      - {name: primary, targets: [{kind: role, group_id: main, role: primary}],
         ack_timeout_seconds: 20}
  urgent:
    levels:
      - {name: primary, targets: [{kind: role, group_id: main, role: primary}],
         ack_timeout_seconds: 30}
"""


@pytest.fixture()
def practice_file(tmp_path: Path) -> str:
    path = tmp_path / "dst-clinic.yaml"
    path.write_text(PRACTICE)
    return str(path)


def who(practice_file: str, at: str) -> Result:
    result = CliRunner().invoke(
        schedule, ["who", "dst-clinic", "--file", practice_file, "--at", at]
    )
    assert result.exit_code == 0, result.output
    return result


def paged(result: Result) -> str:
    return result.stdout.splitlines()[1].split()[2]


def test_a_skipped_local_time_is_when_the_clocks_jump(practice_file: str) -> None:
    skipped = who(practice_file, "2026-03-08T02:30")
    assert skipped.stdout.splitlines()[0] == "dst-clinic urgent at Sun 2026-03-08 03:00 EDT"
    assert "2026-03-08T02:30 does not exist in America/New_York" in skipped.stderr
    jump = who(practice_file, "2026-03-08T03:00:00-04:00")  # the same instant, as ISO
    after_handoff = who(practice_file, "2026-03-08T03:30:00-04:00")
    assert paged(skipped) == paged(jump)
    assert paged(skipped) != paged(after_handoff)  # 02:30 is before the 03:15 handoff


def test_a_repeated_local_time_is_its_first_occurrence(practice_file: str) -> None:
    repeated = who(practice_file, "2026-11-01T01:30")
    assert repeated.stdout.splitlines()[0] == "dst-clinic urgent at Sun 2026-11-01 01:30 EDT"
    assert "happens twice" in repeated.stderr and "01:30 EDT" in repeated.stderr


@pytest.mark.parametrize(
    ("at", "header"),
    [
        ("2026-03-09", "Mon 2026-03-09 00:00 EDT"),  # a plain date: local midnight
        ("2026-03-09T12:00", "Mon 2026-03-09 12:00 EDT"),
        ("2026-03-09T12:00:00Z", "Mon 2026-03-09 08:00 EDT"),  # an instant, shown locally
    ],
)
def test_ordinary_dates_and_times(practice_file: str, at: str, header: str) -> None:
    result = who(practice_file, at)
    assert result.stdout.splitlines()[0] == f"dst-clinic urgent at {header}"
    assert result.stderr == ""


def test_help_says_what_at_takes() -> None:
    text = " ".join(CliRunner().invoke(schedule, ["who", "--help"]).output.split())
    assert "a plain date (2026-12-02) or local time" in text
    assert "practice's time zone" in text and "ISO instant with an offset" in text
