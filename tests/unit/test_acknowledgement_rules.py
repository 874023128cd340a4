"""Acknowledgement rules the dispatch tests left unread: every refusal names who was
refused, a receipt from someone never paged is refused, repeated receipts change
nothing, only a read pauses re-paging (once per page, the reader recorded), each page
counts receipts afresh, and acceptance, cancellation and "already declined" leave no
deadline or effect behind.

Found by the mutation audit (``make mutation``). Pure decisions; synthetic ids only.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.domain.dispatch import (
    Actor,
    AuditEntry,
    Decision,
    DispatchState,
    ScheduleTimer,
    on_ack,
    on_cancel,
)
from engine.domain.state_machine import DispatchStatus
from tests.unit.dispatch_factories import DESK, ack, effects, fire, later, started

S = DispatchStatus


def _with_grace(decision: Decision, grace: float) -> Decision:
    """``decision`` with every clinician step's read grace set to ``grace``."""
    plan = decision.state.plan
    steps = tuple(s if s.is_operator else replace(s, read_grace_seconds=grace) for s in plan.steps)
    return replace(decision, state=replace(decision.state, plan=replace(plan, steps=steps)))


def _audit(decision: Decision) -> AuditEntry:
    [entry] = effects(decision, AuditEntry)
    return entry


def _at_desk() -> DispatchState:
    """Primary dr-a (one page, no re-page) went unanswered: the desk has it."""
    return fire(started(("dr-a",), repeats=0)).state


@pytest.mark.parametrize(
    ("make", "refused", "why"),
    [
        (lambda s: ack(s, "received", "dr-z"), "received_refused", "not paged"),
        (lambda s: ack(s, "read", "dr-z"), "read_refused", "not paged"),
        (lambda s: ack(s, "accepted", "dr-z"), "accepted_refused", "not paged"),
        (lambda s: ack(s, "declined", "dr-z"), "declined_refused", "not a current target"),
        (lambda s: ack(s, "callback_completed", "dr-a"), "callback_completed_refused", "illegal"),
        (lambda s: ack(s, "received", Actor("op-7", DESK)), "received_refused", "not a desk"),
        (lambda s: ack(s, "accepted", Actor("op-7", DESK)), "accepted_refused", "not at the desk"),
    ],
    ids=["receipt", "read", "accept", "decline", "complete", "desk-receipt", "desk-too-early"],
)
def test_a_refusal_while_paging_changes_nothing_and_is_audited(make, refused, why) -> None:  # type: ignore[no-untyped-def]
    state = started().state
    decision = make(state)
    assert decision.state is state and decision.rejected is not None and why in decision.rejected
    entry = _audit(decision)
    assert (entry.action, entry.from_status, entry.to_status, entry.step) == (
        refused, "sent", "sent", 0,
    )  # fmt: skip


def test_refusals_name_the_refused_person() -> None:
    state = started().state
    assert _audit(ack(state, "received", "dr-z")).actor == "dr-z"
    assert _audit(ack(state, "accepted", "dr-z")).actor == "dr-z"
    assert _audit(ack(state, "declined", "dr-z")).actor == "dr-z"
    assert _audit(ack(state, "received", Actor("op-7", DESK))).actor == "op-7"
    assert _audit(ack(state, "accepted", Actor("op-7", DESK))).actor == "op-7"
    desk = _at_desk()
    assert _audit(ack(desk, "accepted", Actor("op-8", "desk-day"))).actor == "op-8"
    accepted = ack(state, "accepted", "dr-a").state
    assert _audit(ack(accepted, "callback_completed", "dr-b")).actor == "dr-b"


def test_a_decline_answering_an_earlier_level_is_refused_by_name() -> None:
    backup = fire(started(("dr-a",), ("dr-b",), repeats=0)).state
    assert backup.current_step.level_name == "backup" and backup.page == 2
    decision = ack(backup, "declined", "dr-b", page=1)
    assert decision.rejected == "not a current target: an earlier level"
    assert _audit(decision).actor == "dr-b"


def test_a_receipt_from_someone_never_paged_changes_nothing() -> None:
    state = started().state
    decision = ack(state, "received", "dr-z")
    assert decision.state is state and decision.rejected == "not paged"
    assert [type(e) for e in decision.effects] == [AuditEntry]


@pytest.mark.parametrize("kind", ["received", "read"])
def test_a_repeated_receipt_of_the_same_page_changes_nothing(kind: str) -> None:
    first = ack(started().state, kind, "dr-a", at=2)  # type: ignore[arg-type]
    again = ack(first.state, kind, "dr-a", at=3)  # type: ignore[arg-type]
    assert again == Decision(first.state, ())


def test_a_delivery_receipt_never_pauses_re_paging() -> None:
    d = _with_grace(started(timeout=60), 120)
    got = ack(d.state, "received", "dr-a", at=10)
    assert got.state.ack_due_at == later(60) and effects(got, ScheduleTimer) == []
    assert got.state.grace_used is False


def test_a_read_pauses_re_paging_once_per_page_and_records_the_reader() -> None:
    d = _with_grace(started(timeout=60), 120)
    read = ack(d.state, "read", "dr-a", at=10)
    assert read.state.ack_due_at == later(130) and read.state.grace_used is True
    assert effects(read, ScheduleTimer) == [ScheduleTimer(0, later(130), 1, "ack")]
    assert read.state.received == ("dr-a",) and _audit(read).actor == "dr-a"
    other = replace(read.state, page_targets=("dr-a", "dr-x"), paged=("dr-a", "dr-x"))
    second = ack(other, "read", "dr-x", at=50)  # another phone reads the same page later
    assert second.state.ack_due_at == later(130) and effects(second, ScheduleTimer) == []


def test_every_page_may_pause_once_and_counts_receipts_afresh() -> None:
    d = _with_grace(started(timeout=60), 120)
    read = ack(d.state, "read", "dr-a", at=10)
    repage = fire(replace(d, state=read.state, effects=(ScheduleTimer(0, later(130), 1),)))
    assert repage.state.page == 2
    assert repage.state.received == () and repage.state.grace_used is False
    got = ack(repage.state, "received", "dr-a", at=131)
    assert got.state.status is S.DELIVERED  # the new page's receipt counts
    again = ack(got.state, "read", "dr-a", at=132)
    assert again.state.ack_due_at == later(252) and again.state.grace_used is True


def test_acceptance_and_cancellation_leave_no_deadline() -> None:
    d = started(timeout=60, receipt_timeout=20)
    assert d.state.ack_due_at is not None and d.state.receipt_due_at is not None
    accepted = ack(d.state, "accepted", "dr-a").state
    assert (accepted.ack_due_at, accepted.receipt_due_at) == (None, None)
    cancelled = on_cancel(d.state, "op-jane", later(5)).state
    assert (cancelled.ack_due_at, cancelled.receipt_due_at) == (None, None)


def test_a_second_decline_by_the_same_clinician_changes_nothing() -> None:
    state = started(("dr-a", "dr-c"), ("dr-b",)).state
    declined = ack(state, "declined", "dr-a", at=2)
    assert _audit(declined).actor == "dr-a"
    again = on_ack(declined.state, "declined", "dr-a", "evt-again", later(3), page=1)
    assert again == Decision(declined.state, (), "already declined")


def test_the_accepter_s_callback_report_is_audited_as_theirs() -> None:
    accepted = ack(started().state, "accepted", "dr-a").state
    done = ack(accepted, "callback_completed", "dr-a", at=90)
    assert done.state.status is S.COMPLETED and _audit(done).actor == "dr-a"
