"""The operator's script for an incoming call: greeting, office open or not, and the
on-call chain by name, from the demo practices at fixed instants."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from engine.domain.desk_script import ChainLevel, desk_script, on_call_line
from engine.practice_files import load_practice_file
from engine.schemas.intake import Urgency

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "practices"


def _practice(name: str):  # type: ignore[no-untyped-def]
    return load_practice_file(DEPLOY / name).practice


def test_after_hours_the_chain_is_named_and_ends_at_the_desk() -> None:
    script = desk_script(_practice("maple-pediatrics.yaml"), datetime(2026, 12, 5, 4, tzinfo=UTC))
    assert not script.office_open and "after-hours" in script.greeting
    assert script.next_opening == datetime(2026, 12, 7, 14, tzinfo=UTC)  # Mon 09:00 EST
    assert [lv.people for lv in script.chain] == [
        ("Dr. Erik Lindqvist",),
        ("Dr. Luis Castellanos",),
        (),
    ]
    assert script.chain[-1].operator_desk and script.chain[0].timeout_seconds == 300.0
    assert script.on_call_line == (
        "Dr. Erik Lindqvist is on call now, then Dr. Luis Castellanos, then the operator desk."
    )


def test_during_office_hours_the_office_is_open() -> None:
    monday_10am_new_york = datetime(2026, 12, 7, 15, tzinfo=UTC)
    script = desk_script(_practice("demo-pediatrics.yaml"), monday_10am_new_york, Urgency.ROUTINE)
    assert script.office_open and script.next_opening is None
    assert script.reason_urgency["billing"] == "routine"
    assert script.live_transfer_urgencies == ("emergency",)


def test_the_line_says_so_when_nobody_is_on_call() -> None:
    desk = ChainLevel("operator", (), None, None, True)
    assert on_call_line((desk,)).startswith("Nobody is on call now")
    two = ChainLevel("first", ("Dr. A", "Dr. B"), 60, 1, False)
    assert on_call_line((two, desk)) == "Dr. A, Dr. B are on call now, then the operator desk."
