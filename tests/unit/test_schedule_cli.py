"""``nightline schedule`` with click's CliRunner and no server: practice files
(``--file``) and an in-memory store in place of Redis and Kafka."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from engine.adapters.practice_store import HistoryEntry, summarize
from engine.cli import schedule as schedule_cli
from engine.cli.schedule import schedule
from engine.domain.practice import Practice
from engine.practice_files import load_practice_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "practices"
CLINIC_A = str(FIXTURES / "clinic-a.yaml")
CLINIC_B = str(FIXTURES / "clinic-b.yaml")


class FakeStore:
    """The parts of PracticeStore the CLI uses, in memory."""

    def __init__(self) -> None:
        self.practices: dict[str, Practice] = {}
        self.entries: dict[str, list[HistoryEntry]] = {}
        self.published: list[tuple[str, int]] = []

    def get(self, practice_id: str) -> Practice | None:
        return self.practices.get(practice_id)

    def practice_ids(self) -> list[str]:
        return sorted(self.practices)

    def all(self) -> list[Practice]:
        return [self.practices[pid] for pid in self.practice_ids()]

    def history(self, practice_id: str) -> list[HistoryEntry]:
        return self.entries.get(practice_id, [])

    def put(self, practice: Practice, actor: str) -> int:
        before = self.practices.get(practice.practice_id)
        stored = practice.model_copy(update={"revision": before.revision + 1 if before else 1})
        self.practices[practice.practice_id] = stored
        entry = HistoryEntry(stored.revision, datetime.now(UTC), actor, summarize(before, stored))
        self.entries.setdefault(practice.practice_id, []).append(entry)
        self.publish(stored, actor)
        return stored.revision

    def publish(self, practice: Practice, actor: str) -> None:
        self.published.append((practice.practice_id, practice.revision))


@pytest.fixture()
def store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    fake = FakeStore()

    @contextmanager
    def open_fake(publish: bool = False) -> Iterator[FakeStore]:
        yield fake

    monkeypatch.setattr(schedule_cli, "open_store", open_fake)
    return fake


def run(*args: str) -> Result:
    return CliRunner().invoke(schedule, list(args))


def test_load_reports_every_problem_with_its_line_and_stores_nothing(
    store: FakeStore, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    text = Path(CLINIC_A).read_text()
    text = text.replace("shift_length: 1\n", "shift_length: 0\n", 1)
    bad.write_text(text.replace("participants: [np-c]", "participants: [np-x]"))
    result = run("load", str(bad))
    assert result.exit_code == 1
    assert "Error: 2 problem(s):" in result.output
    assert f"{bad}:16: coverage_groups[0].layers[0].shift_length: must be at least 1" in (
        result.output
    )
    assert f"{bad}:22: coverage_groups[0].layers[1].participants[0]: unknown clinician" in (
        result.output
    )
    assert store.practices == {}


def test_load_stores_publishes_and_prints_the_revision(store: FakeStore) -> None:
    first = run("load", CLINIC_A, "--actor", "op-jane")
    assert first.exit_code == 0, first.output
    assert first.output.startswith("clinic-a revision 1: created: 1 groups, 2 layers")
    second = run("load", CLINIC_A)
    assert second.output == "clinic-a revision 2: no changes\n"
    assert store.published == [("clinic-a", 1), ("clinic-a", 2)]
    assert [e.actor for e in store.history("clinic-a")] == ["op-jane", "cli"]


def test_who_prints_levels_targets_and_timeouts() -> None:
    result = run("who", "clinic-a", "--file", CLINIC_A, "--at", "2026-12-03T20:00")
    assert result.exit_code == 0, result.output
    assert [line.split() for line in result.output.splitlines()] == [
        ["clinic-a", "urgent", "at", "Thu", "2026-12-03", "20:00", "EST"],
        ["1.", "primary", "dr-b", "ack", "30", "s,", "2", "re-page(s)"],
        ["2.", "backup", "np-c", "ack", "45", "s,", "0", "re-page(s)"],
        ["3.", "operator", "desk-a"],
    ]


def test_who_reads_the_store_and_applies_overrides(store: FakeStore) -> None:
    store.put(load_practice_file(Path(CLINIC_A)).practice, "cli")
    result = run("who", "clinic-a", "--at", "2026-12-01T12:00:00-05:00", "--group", "main")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split()[:3] == ["1.", "primary", "dr-a"]  # swap-1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["who", "nope"], "unknown practice 'nope' (stored: clinic-a)"),
        (["who", "clinic-a", "--group", "night"], "clinic-a has no group 'night' (groups: main)"),
        (["who", "clinic-b", "--file", CLINIC_A], "defines 'clinic-a', not 'clinic-b'"),
        (["show", "clinic-a", "--group", "night"], "has no group 'night'"),
        (["export-ics", "clinic-a", "--clinician", "dr-z"], "clinic-a has no clinician 'dr-z'"),
        (["gaps", "nope"], "unknown practice 'nope'"),
    ],
)
def test_unknown_names_are_clear_errors(store: FakeStore, args: list[str], message: str) -> None:
    store.put(load_practice_file(Path(CLINIC_A)).practice, "cli")
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output


def test_bad_arguments_are_usage_errors() -> None:
    assert run("who", "clinic-a", "--file", CLINIC_A, "--at", "soon").exit_code == 2
    assert run("export-ics", "clinic-a", "--file", CLINIC_A).exit_code == 2
    both = run("export-ics", "clinic-a", "--file", CLINIC_A, "--group", "main", "--clinician", "x")
    assert both.exit_code == 2 and "exactly one" in both.output


def test_show_prints_the_final_schedule_in_local_time() -> None:
    result = run(
        "show", "clinic-a", "--file", CLINIC_A, "--from", "2026-11-30", "--to", "2026-12-03"
    )
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines()]
    assert lines[0] == ["Main", "line", "(main),", "America/New_York"]
    assert [
        "primary",
        "Tue",
        "2026-12-01",
        "08:00",
        "EST",
        "Wed",
        "2026-12-02",
        "08:00",
        "EST",
        "dr-a",
    ] in lines
    assert [
        "backup",
        "Mon",
        "2026-11-30",
        "17:00",
        "EST",
        "Tue",
        "2026-12-01",
        "08:00",
        "EST",
        "np-c",
    ] in lines


def test_gaps_and_double_bookings_across_files() -> None:
    result = run(
        "gaps", "--file", CLINIC_A, "--file", CLINIC_B, "--from", "2026-11-30T05:00", "--days", "14"
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "gap      clinic-b only primary: Mon 2026-11-30 08:00 EST - Sat 2026-12-05 08:00 EST",
        "gap      clinic-b only primary: Mon 2026-12-07 08:00 EST - Sat 2026-12-12 08:00 EST",
        "double   dr-a in clinic-a, clinic-b: Mon 2026-11-30 05:00 UTC - Mon 2026-11-30 13:00 UTC",
        "double   dr-a in clinic-a, clinic-b: Sat 2026-12-12 13:00 UTC - Mon 2026-12-14 05:00 UTC",
    ]


def test_gaps_on_the_store_for_one_practice(store: FakeStore) -> None:
    store.put(load_practice_file(Path(CLINIC_A)).practice, "cli")
    result = run("gaps", "clinic-a", "--from", "2026-11-30T05:00", "--days", "3")
    assert result.output == "no gaps or double bookings in the next 3 day(s)\n"


ICS = str(FIXTURES / "clinic-a-oncall.ics")
DECEMBER = ["--from", "2026-12-01", "--to", "2026-12-31"]


def test_import_ics_merges_overrides_and_stores_a_revision(store: FakeStore) -> None:
    store.put(load_practice_file(Path(CLINIC_A)).practice, "cli")
    result = run("import-ics", "clinic-a", ICS, "--group", "main", *DECEMBER, "--actor", "op-kim")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "unmatched Thu 2026-12-10 08:00 EST 'Dr. Nobody on call': names no clinician of the "
        "practice (summary or attendees)",
        "override  Tue 2026-12-08 08:00 EST - Wed 2026-12-09 08:00 EST: dr-b (ics:evt-1_test)",
        "1 override(s) for main primary; clinic-a revision 2",
    ]
    assert store.history("clinic-a")[-1].summary == "overrides +1"
    who = run("who", "clinic-a", "--at", "2026-12-08T12:00")
    assert who.output.splitlines()[1].split()[:3] == ["1.", "primary", "dr-b"]
    again = run("import-ics", "clinic-a", ICS, "--group", "main", *DECEMBER)
    assert again.output.endswith("clinic-a revision 3\n")  # same ids: replaced, not added
    assert store.history("clinic-a")[-1].summary == "no changes"


def test_import_ics_dry_run_stores_nothing(store: FakeStore) -> None:
    store.put(load_practice_file(Path(CLINIC_A)).practice, "cli")
    result = run("import-ics", "clinic-a", ICS, "--group", "main", *DECEMBER, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.endswith("1 override(s) for main primary; nothing stored (dry run)\n")
    assert store.get("clinic-a").revision == 1  # type: ignore[union-attr]


def test_import_ics_refuses_contradicting_overrides(store: FakeStore, tmp_path: Path) -> None:
    store.put(load_practice_file(Path(CLINIC_A)).practice, "cli")
    clash = tmp_path / "clash.ics"
    clash.write_bytes(
        Path(ICS)
        .read_bytes()
        .replace(b"Dr. Nobody on call", b"np-c on call")
        .replace(b"20261210T130000Z", b"20261208T180000Z")
        .replace(b"20261211T130000Z", b"20261209T000000Z")
    )
    result = run("import-ics", "clinic-a", str(clash), "--group", "main", *DECEMBER)
    assert result.exit_code == 1
    assert "conflict  Tue 2026-12-08 13:00 EST - Tue 2026-12-08 19:00 EST: dr-b vs np-c" in (
        result.output
    )
    assert "not stored: the merged schedule is invalid" in result.output
    assert store.get("clinic-a").revision == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "Nobody"], "'Nobody' is not NAME=CLINICIAN_ID"),
        (["--map", "Nobody=dr-z"], "clinic-a has no clinician 'dr-z'"),
        (["--group", "night"], "has no group 'night'"),
    ],
)
def test_import_ics_argument_errors(store: FakeStore, args: list[str], message: str) -> None:
    store.put(load_practice_file(Path(CLINIC_A)).practice, "cli")
    group = [] if "--group" in args else ["--group", "main"]
    result = run("import-ics", "clinic-a", ICS, *group, *args)
    assert result.exit_code in (1, 2) and message in result.output


def test_import_ics_maps_names(store: FakeStore) -> None:
    store.put(load_practice_file(Path(CLINIC_A)).practice, "cli")
    result = run(
        "import-ics",
        "clinic-a",
        ICS,
        "--group",
        "main",
        *DECEMBER,
        "--map",
        "Nobody=np-c",
        "--dry-run",
    )
    assert "Thu 2026-12-10 08:00 EST - Fri 2026-12-11 08:00 EST: np-c" in result.output


def test_export_ics_feeds(tmp_path: Path) -> None:
    mine = run(
        "export-ics",
        "clinic-a",
        "--file",
        CLINIC_A,
        "--clinician",
        "dr-b",
        "--from",
        "2026-11-30",
        "--to",
        "2026-12-10",
    )
    assert mine.exit_code == 0, mine.output
    assert mine.output.startswith("BEGIN:VCALENDAR") and "Doctor B" in mine.output
    out = tmp_path / "main.ics"
    group = run("export-ics", "clinic-a", "--file", CLINIC_A, "--group", "main", "--out", str(out))
    assert group.output == f"{out}\n" and out.read_bytes().startswith(b"BEGIN:VCALENDAR")
