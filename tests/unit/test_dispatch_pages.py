"""Pages and what answers them: receipts name their page, receipt deadlines are decided
per page, a read never ends a dispatch, the desk is a level that must claim, clinicians
no push reached are paged again, and each level's people are resolved when it starts."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from engine.domain.dispatch import (
    Actor,
    AuditEntry,
    Decision,
    NotifyOperatorDesk,
    PagePerson,
    ScheduleTimer,
    TransferCall,
    desk_only_plan,
    on_ack_timeout,
    on_pages_failed,
    start_dispatch,
)
from engine.domain.escalation import PlanStep
from engine.domain.oncall import ResolvedLevel
from engine.domain.state_machine import DispatchStatus
from engine.schemas.intake import Urgency
from tests.unit.dispatch_factories import (
    DESK,
    T0,
    ack,
    effects,
    fire,
    later,
    paged_ids,
    started,
    timer,
)

S = DispatchStatus
OPERATOR = Actor("op-7", DESK)


def with_grace(decision: Decision, grace: float) -> Decision:
    """``decision`` with every clinician step's read grace set to ``grace``."""
    plan = decision.state.plan
    steps = tuple(s if s.is_operator else replace(s, read_grace_seconds=grace) for s in plan.steps)
    return replace(decision, state=replace(decision.state, plan=replace(plan, steps=steps)))


# --- receipts answer a page -----------------------------------------------------------------


def test_a_receipt_for_the_first_page_does_not_shorten_the_re_page_window() -> None:
    d = started(("dr-a",), ("dr-b",), timeout=300, repeats=1, receipt_timeout=60)
    assert timer(d, "receipt") == ScheduleTimer(0, later(60), 1, "receipt")
    got = ack(d.state, "received", "dr-a", at=2)
    assert got.state.status is S.DELIVERED
    assert fire(replace(d, state=got.state), "receipt").rejected == "stale timer"
    repage = fire(replace(d, state=got.state))  # 300 s: re-page of dr-a, page 2
    assert (paged_ids(repage), repage.state.page) == (["dr-a"], 2)
    # dr-a's phone confirmed this level already: no receipt deadline for the re-page, so an
    # app that shows a dispatch once (and sends no second receipt) does not wake the backup
    assert [t.kind for t in effects(repage, ScheduleTimer)] == ["ack"]
    backup = fire(repage)
    assert (backup.state.updated_at, paged_ids(backup)) == (later(600), ["dr-b"])


def test_a_late_receipt_for_an_old_page_does_not_stop_the_current_failover() -> None:
    d = started(("dr-a",), ("dr-b",), timeout=300, repeats=0, receipt_timeout=60)
    backup = fire(d, "receipt")  # no receipt from dr-a within 60 s: dr-b, page 2
    assert (paged_ids(backup), backup.state.page) == (["dr-b"], 2)
    late = ack(backup.state, "received", "dr-a", at=61, page=1)
    assert late == Decision(backup.state, ())
    desk = fire(backup, "receipt")
    assert desk.state.status is S.OPERATOR
    assert effects(desk, NotifyOperatorDesk)[0].reason == "no device receipt"


def test_a_late_receipt_for_the_previous_page_does_not_count_for_the_re_page() -> None:
    d = started(("dr-a", "dr-c"), ("dr-b",), timeout=300, receipt_timeout=60)
    partly = ack(d.state, "received", "dr-a")  # dr-c's phone has not confirmed page 1
    repage = fire(replace(d, state=partly.state))  # page 2, with a receipt deadline
    late = ack(repage.state, "received", "dr-c", at=301, page=1)
    assert late == Decision(repage.state, ())
    failover = fire(repage, "receipt")  # nobody confirmed page 2 in 60 s: the backup now
    assert (paged_ids(failover), failover.state.updated_at) == (["dr-b"], later(360))


def test_a_receipt_for_the_current_page_counts_once_per_person() -> None:
    state = started(("dr-a", "dr-c")).state
    first = ack(state, "received", "dr-a")
    assert (first.state.status, first.state.received) == (S.DELIVERED, ("dr-a",))
    assert ack(first.state, "received", "dr-a") == Decision(first.state, ())  # another phone
    other = ack(first.state, "received", "dr-c")
    assert other.state.received == ("dr-a", "dr-c") and other.state.version == 3


@pytest.mark.parametrize(
    ("repaged", "counts"), [(False, True), (True, False)], ids=["one-page", "after-re-page"]
)
def test_an_old_form_receipt_counts_only_while_unambiguous(repaged: bool, counts: bool) -> None:
    d = started(("dr-a",), repeats=1)
    state = fire(d).state if repaged else d.state
    got = ack(state, "received", "dr-a", page=0)  # page=0: the version 1 form, no page
    assert (got.state.status is S.DELIVERED) is counts
    if not counts:
        assert got == Decision(state, ())


def test_receipt_deadlines_are_decided_per_page() -> None:
    d = started(("dr-a", "dr-c"), ("dr-b",), timeout=300, receipt_timeout=60)
    partly = ack(d.state, "received", "dr-a")  # dr-c's phone never confirmed
    repage = fire(replace(d, state=partly.state))
    assert timer(repage, "receipt") == ScheduleTimer(1, later(360), 2, "receipt")
    unset = started(("dr-a",), timeout=30, receipt_timeout=60)  # not shorter: no deadline
    assert [t.kind for t in effects(unset, ScheduleTimer)] == ["ack"]


# --- a read is not an owner -----------------------------------------------------------------


def test_a_read_pauses_re_paging_for_the_grace_then_the_escalation_goes_on() -> None:
    d = with_grace(started(("dr-a",), ("dr-b",), timeout=60, repeats=0), grace=120)
    read = ack(d.state, "read", "dr-a", at=50)
    assert read.state.status is S.READ and read.state.ack_due_at == later(170)
    assert effects(read, ScheduleTimer) == [ScheduleTimer(0, later(170), 1, "ack")]
    old = on_ack_timeout(read.state, 0, later(60), page=1, due_at=later(60))
    assert old == Decision(read.state, (), "stale timer: the deadline moved")
    again = ack(read.state, "read", "dr-a", at=160)
    assert not effects(again, ScheduleTimer)  # once per page
    backup = fire(read)
    assert (backup.state.status, paged_ids(backup)) == (S.SENT, ["dr-b"])


def test_without_a_grace_a_read_changes_no_deadline() -> None:
    d = started(("dr-a",), timeout=60, repeats=1)
    read = ack(d.state, "read", "dr-a", at=10)
    assert read.state.status is S.READ and not effects(read, ScheduleTimer)
    assert paged_ids(fire(replace(d, state=read.state))) == ["dr-a"]  # re-paged on time


def test_a_read_never_ends_a_dispatch() -> None:
    d = with_grace(started(("dr-a",), timeout=60, repeats=0), grace=60)
    read = ack(d.state, "read", "dr-a", at=5)
    desk = fire(read)
    assert desk.state.status is S.OPERATOR and desk.state.accepted_by is None


# --- the desk is a level that must claim ----------------------------------------------------


def desk_state(levels: tuple[tuple[str, ...], ...] = ()) -> Decision:
    return (
        started(*levels, desk_timeout=30)
        if levels
        else start_dispatch("dsp-9", "prac-1", Urgency.EMERGENCY, desk_only_plan(DESK, 30), T0)
    )


def test_the_desk_is_re_alerted_until_an_operator_claims_it() -> None:
    d = desk_state()
    assert effects(d, NotifyOperatorDesk) == [NotifyOperatorDesk(DESK, "nobody on call", 1, 1)]
    for alert in (2, 3, 4):
        d = fire(d)
        assert d.state.status is S.OPERATOR and d.state.urgency is Urgency.EMERGENCY
        [note] = effects(d, NotifyOperatorDesk)
        assert (note.alert, note.page, note.reason) == (alert, alert, "not claimed after 30s")
        assert timer(d).due_at == later(30 * alert)
    claimed = ack(d.state, "accepted", OPERATOR, at=125)
    assert (claimed.state.status, claimed.state.accepted_by) == (S.ACCEPTED, "op-7")
    assert claimed.state.accepted_at_desk
    [audit] = effects(claimed, AuditEntry)
    assert audit.actor == "op-7" and f"claimed at {DESK}" in audit.detail
    done = ack(claimed.state, "callback_completed", OPERATOR, at=200)
    assert done.state.status is S.COMPLETED


@pytest.mark.parametrize(
    ("actor", "reason"),
    [
        (Actor("op-7", "desk-day"), "another desk"),
        (Actor("dr-a"), "not paged"),
    ],
    ids=["another-desk", "a-clinician-never-paged"],
)
def test_only_the_dispatch_desk_or_a_paged_clinician_can_take_it(actor: Actor, reason: str) -> None:
    state = desk_state().state
    assert ack(state, "accepted", actor).rejected == reason


def test_the_desk_cannot_claim_while_clinicians_are_paged() -> None:
    state = started().state
    d = ack(state, "accepted", OPERATOR)
    assert d.state == state and d.rejected == "not at the desk"


def test_the_desk_only_claims_and_closes() -> None:
    state = desk_state().state
    assert ack(state, "read", OPERATOR).rejected == "not a desk action"


def test_a_clinician_cannot_close_what_the_desk_claimed() -> None:
    at_desk = fire(started(("dr-a",), repeats=0)).state
    claimed = ack(at_desk, "accepted", OPERATOR).state
    d = ack(claimed, "callback_completed", "dr-a")
    assert d.rejected == "only the accepter can complete"


def test_a_desk_only_plan_has_the_desk_alone() -> None:
    plan = desk_only_plan("desk-x", 20)
    assert plan.steps == (PlanStep(0, 0, "operator", 1, ("desk-x",), 20, True),)


# --- an outage ends: the clinicians are paged again -----------------------------------------


def test_clinicians_no_push_reached_are_paged_again_at_each_desk_re_alert() -> None:
    d = started(("dr-a",), ("dr-b",), desk_timeout=30)
    d = on_pages_failed(d.state, 0, ("dr-a",), later(1), page=1)
    at_desk = on_pages_failed(d.state, d.state.step, ("dr-b",), later(2), page=2)
    assert at_desk.state.status is S.OPERATOR and not effects(at_desk, PagePerson)
    tick = fire(at_desk)
    assert effects(tick, PagePerson) == [
        PagePerson(tick.state.step, 2, "dr-a", 4),
        PagePerson(tick.state.step, 2, "dr-b", 4),
    ]
    assert on_pages_failed(tick.state, tick.state.step, ("dr-a", "dr-b"), later(33), page=4) == (
        Decision(tick.state, (), "stale step")  # still down: the next re-alert tries again
    )
    back = ack(tick.state, "received", "dr-b", at=35)  # dr-b's provider is back
    assert back.state.unreached == ("dr-a",) and back.state.status is S.OPERATOR
    assert paged_ids(fire(replace(tick, state=back.state))) == ["dr-a"]
    accepted = ack(back.state, "accepted", "dr-b", at=40)
    assert accepted.state.status is S.ACCEPTED


# --- who is paged is decided when each level starts -----------------------------------------


def resolver(answers: dict[int, list[tuple[float, tuple[str, ...]]]]):  # type: ignore[no-untyped-def]
    """Level -> [(from second, people)], the latest start at or before the instant wins."""

    def resolve(level: int, at: datetime) -> ResolvedLevel | None:
        rows = answers.get(level)
        if rows is None:
            return None
        seconds = (at - T0).total_seconds()
        people = [p for start, p in rows if start <= seconds][-1]
        return ResolvedLevel(people, (f"role of level {level}",))

    return resolve


def test_each_level_is_resolved_when_it_starts() -> None:
    # dr-b called in sick at 03:02: dr-x covers the backup role from then on
    resolve = resolver({0: [(0, ("dr-a",))], 1: [(0, ("dr-b",)), (120, ("dr-x",))]})
    d = started(("dr-a",), ("dr-b",), timeout=100, repeats=1, resolve=resolve)
    repage = fire(d, resolve=resolve)
    backup = fire(repage, resolve=resolve)  # 200 s
    assert paged_ids(backup) == ["dr-x"]
    assert backup.state.targets == ("dr-x",)
    [audit] = effects(backup, AuditEntry)
    assert "paging backup #1: dr-x (role of level 1)" in audit.detail
    assert paged_ids(fire(backup, resolve=resolve)) == ["dr-x"]  # its re-page: same people


def test_a_level_nobody_covers_now_is_skipped_and_said_so() -> None:
    resolve = resolver({0: [(0, ("dr-a",))], 1: [(0, ())], 2: [(0, ("dr-c",))]})
    d = started(("dr-a",), ("dr-b",), ("dr-c",), repeats=0, resolve=resolve)
    nxt = fire(d, resolve=resolve)
    assert paged_ids(nxt) == ["dr-c"]
    assert "nobody to page at backup" in effects(nxt, AuditEntry)[0].detail


def test_someone_already_paged_is_not_paged_again_at_a_later_level() -> None:
    resolve = resolver({0: [(0, ("dr-a",))], 1: [(0, ("dr-a",))]})
    d = started(("dr-a",), ("dr-b",), repeats=0, resolve=resolve)
    assert fire(d, resolve=resolve).state.status is S.OPERATOR


def test_without_an_answer_the_people_resolved_at_the_start_are_paged() -> None:
    unknown = resolver({})
    d = started(("dr-a",), ("dr-b",), repeats=0, resolve=unknown)
    backup = fire(d, resolve=unknown)
    assert paged_ids(backup) == ["dr-b"]
    assert "as resolved at the start" in effects(backup, AuditEntry)[0].detail


# --- live transfer --------------------------------------------------------------------------


def test_a_waiting_caller_is_patched_through_to_the_first_person_paged() -> None:
    d = started(("dr-a", "dr-c"), live_call_id="call-5")
    assert d.effects[0] == TransferCall("call-5", "dr-a")


def test_no_transfer_when_nobody_is_paged() -> None:
    d = start_dispatch(
        "dsp-1", "prac-1", Urgency.URGENT, desk_only_plan(DESK), T0, live_call_id="call-5"
    )
    assert not effects(d, TransferCall) and d.state.status is S.OPERATOR


def test_the_state_keeps_what_the_pages_need() -> None:
    s = started(("dr-a",), ("dr-b",), timeout=100, receipt_timeout=30).state
    assert (s.page, s.level_page, s.targets, s.page_targets) == (1, 1, ("dr-a",), ("dr-a",))
    assert (s.ack_due_at, s.receipt_due_at) == (later(100), later(30))


def test_clinicians_who_never_confirmed_a_page_are_paged_again_at_the_desk() -> None:
    d = started(("dr-a",), timeout=300, repeats=0, receipt_timeout=20, desk_timeout=30)
    desk = fire(d, "receipt")  # the provider took the push, the phone never confirmed it
    assert desk.state.status is S.OPERATOR and desk.state.unreached == ("dr-a",)
    assert paged_ids(fire(desk)) == ["dr-a"]  # the desk's re-alert pages dr-a again


def test_a_late_push_failure_after_a_decline_escalates_at_once() -> None:
    state = started(("dr-a", "dr-c"), ("dr-b",)).state
    declined = ack(state, "declined", "dr-a", at=2).state
    d = on_pages_failed(declined, 0, ("dr-c",), later(3), page=1)  # dr-c's push failed late
    assert (d.state.step, paged_ids(d)) == (2, ["dr-b"])
