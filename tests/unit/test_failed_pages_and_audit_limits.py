"""Failed pushes and the audit's limits: a re-page that reached none of the people it
paged skips the level at once (even when someone of the level declined earlier); a
partial failure is recorded once, by the system; decisions refuse a clock without an
offset; an audit detail never exceeds what the audit event accepts; a dispatch that
finds nobody on call starts at the desk as a new dispatch.

Found by the mutation audit (``make mutation``). Pure decisions; synthetic ids only.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

import pytest

from engine.domain.dispatch import AuditEntry, Decision, StateChanged, on_pages_failed
from engine.domain.oncall import ResolvedLevel
from engine.domain.state_machine import DispatchStatus
from engine.schemas.audit import AuditEvent
from tests.unit.dispatch_factories import T0, ack, effects, fire, later, paged_ids, started

S = DispatchStatus


def test_a_re_page_that_reached_nobody_it_paged_skips_the_level() -> None:
    """dr-a declined, so the re-page went to dr-c alone; it failed: the backup, now."""
    first = started(("dr-a", "dr-c"), ("dr-b",), repeats=1)
    declined = ack(first.state, "declined", "dr-a", at=5)
    repage = fire(Decision(declined.state, first.effects))  # the first page's ack timer
    assert paged_ids(repage) == ["dr-c"]
    failed = on_pages_failed(repage.state, 1, ("dr-c",), later(61), page=2)
    assert paged_ids(failed) == ["dr-b"] and failed.state.current_step.level_name == "backup"


def test_a_partial_failure_is_recorded_once_by_the_system() -> None:
    state = started(("dr-a", "dr-c"), ("dr-b",)).state
    failed = on_pages_failed(state, 0, ("dr-a",), later(1), page=1)
    assert failed.state.unreached == ("dr-a",) and failed.state.status is S.SENT
    [entry] = effects(failed, AuditEntry)
    assert (entry.action, entry.actor, entry.step) == ("page_failed", "system", 0)
    again = on_pages_failed(failed.state, 0, ("dr-a",), later(2), page=1)
    assert again == Decision(failed.state, (), "stale step: already recorded")


class _NoOffset(tzinfo):
    """A time zone that does not know its offset."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


def test_decisions_refuse_a_clock_without_an_offset() -> None:
    state = started().state
    unknown_offset = datetime(2026, 3, 7, 3, 1, tzinfo=_NoOffset())
    with pytest.raises(ValueError, match="timezone-aware"):
        on_pages_failed(state, 0, ("dr-a",), unknown_offset, page=1)


def test_an_audit_detail_is_clipped_to_what_the_audit_event_accepts() -> None:
    crowd = tuple(f"dr-clinician-{n:02d}" for n in range(40))
    decision = started(crowd)
    [entry] = effects(decision, AuditEntry)
    assert len(entry.detail) == 300 and entry.detail.endswith("...")
    assert entry.detail.startswith("dispatch started; paging primary #1: dr-clinician-00, ")
    event = AuditEvent(
        at=T0, practice_id="prac-1", subject_type="dispatch", subject_id="dsp-1",
        actor=entry.actor, action=entry.action, detail=entry.detail,
    )  # fmt: skip
    assert event.detail == entry.detail


def test_a_dispatch_nobody_is_on_call_for_starts_at_the_desk_as_a_new_dispatch() -> None:
    def nobody(level: int, at: datetime) -> ResolvedLevel | None:
        return ResolvedLevel(())

    decision = started(("dr-a",), ("dr-b",), resolve=nobody)
    assert decision.state.status is S.OPERATOR and paged_ids(decision) == []
    [changed] = effects(decision, StateChanged)
    [entry] = effects(decision, AuditEntry)
    assert (changed.from_status, changed.to_status) == (None, S.OPERATOR)
    assert (entry.action, entry.from_status, entry.to_status) == (
        "handed_to_operator", None, "operator",
    )  # fmt: skip
