"""Dispatch decisions: paging, re-paging, escalation, acceptance, idempotency, round trip."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.dispatch import (
    MAX_PROCESSED_EVENT_IDS,
    AuditEntry,
    CancelTimers,
    Decision,
    DispatchState,
    NotifyOperatorDesk,
    PagePerson,
    ScheduleTimer,
    StateChanged,
    on_ack_timeout,
    on_cancel,
    on_no_reachable_device,
    start_dispatch,
)
from engine.domain.state_machine import DispatchStatus, Trigger
from engine.schemas.intake import Urgency
from tests.unit.dispatch_factories import (
    DESK,
    T0,
    ack,
    effects,
    later,
    paged_ids,
    plan,
    started,
)

S = DispatchStatus


def assert_changed(before: DispatchState, decision: Decision, trigger: Trigger) -> None:
    """One change: version + 1, exactly one audit entry and one StateChanged, no rejection."""
    after = decision.state
    assert decision.rejected is None
    assert after.version == before.version + 1
    assert effects(decision, StateChanged) == [
        StateChanged(before.status, after.status, after.step, trigger)
    ]
    [audit] = effects(decision, AuditEntry)
    assert (audit.action, audit.from_status, audit.to_status) == (
        trigger.value,
        before.status.value,
        after.status.value,
    )


def assert_unchanged(before: DispatchState, decision: Decision, rejected: str | None) -> None:
    assert decision.state == before
    assert decision.rejected == rejected
    assert all(isinstance(e, AuditEntry) for e in decision.effects)


def fire(decision: Decision) -> Decision:
    """Fire the timer that ``decision`` scheduled, at its due time."""
    [timer] = effects(decision, ScheduleTimer)
    return on_ack_timeout(decision.state, timer.step, timer.due_at)


# --- start ---------------------------------------------------------------------------------


def test_start_pages_every_primary_and_sets_the_timer() -> None:
    d = started(("dr-a", "dr-c"), ("dr-b",), timeout=90)
    assert (d.state.status, d.state.step, d.state.version) == (S.SENT, 0, 1)
    assert effects(d, PagePerson) == [PagePerson(0, 1, "dr-a"), PagePerson(0, 1, "dr-c")]
    assert effects(d, ScheduleTimer) == [ScheduleTimer(0, later(90))]
    assert d.state.paged == ("dr-a", "dr-c")
    assert effects(d, StateChanged) == [StateChanged(None, S.SENT, 0, Trigger.PAGE_SENT)]
    [audit] = effects(d, AuditEntry)
    assert (audit.actor, audit.from_status, audit.to_status) == ("system", None, "sent")
    assert d.state.created_at == d.state.updated_at == T0


def test_nobody_on_call_goes_straight_to_the_operator() -> None:
    d = start_dispatch("dsp-1", "prac-1", Urgency.EMERGENCY, plan(), T0)
    assert d.state.status is S.OPERATOR
    assert effects(d, NotifyOperatorDesk) == [NotifyOperatorDesk(DESK, "nobody on call")]
    assert not effects(d, PagePerson) and not effects(d, ScheduleTimer)
    assert effects(d, StateChanged)[0].trigger is Trigger.HANDED_TO_OPERATOR


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        start_dispatch("dsp-1", "prac-1", Urgency.URGENT, plan(), datetime(2026, 3, 7, 3))


# --- no acknowledgement: re-page, backup, operator ------------------------------------------

# repeats=1, timeout=60: (step, status, pages as (attempt, who), timer due seconds after T0)
NO_ACK = [
    ("primary-repage", 1, S.SENT, [(2, "dr-a")], 120),
    ("backup-page", 2, S.SENT, [(1, "dr-b")], 180),
    ("backup-repage", 3, S.SENT, [(2, "dr-b")], 240),
    ("operator", 4, S.OPERATOR, [], None),
]


def test_no_ack_repages_then_backup_then_operator() -> None:
    d = started()
    for name, step, status, pages, due in NO_ACK:
        before, d = d.state, fire(d)
        assert_changed(
            before, d, Trigger.HANDED_TO_OPERATOR if due is None else Trigger.ACK_TIMEOUT
        )
        assert (d.state.step, d.state.status) == (step, status), name
        assert [(p.attempt, p.clinician_id) for p in effects(d, PagePerson)] == pages, name
        if due is None:
            assert effects(d, NotifyOperatorDesk) == [
                NotifyOperatorDesk(DESK, "no acknowledgement")
            ]
            assert not effects(d, ScheduleTimer)
        else:
            assert effects(d, ScheduleTimer) == [ScheduleTimer(step, later(due))], name
    assert d.state.paged == ("dr-a", "dr-b")
    assert "no ack after 60s" in effects(d, AuditEntry)[0].detail


def test_sub_second_timeouts() -> None:
    d = fire(started(("dr-a",), timeout=0.5, repeats=1))
    assert effects(d, ScheduleTimer) == [ScheduleTimer(1, later(1.0))]


# --- acceptance -----------------------------------------------------------------------------


def test_accept_stops_escalation_and_callback_completes() -> None:
    d0 = started()
    d1 = ack(d0.state, "received", "dr-a")
    assert_changed(d0.state, d1, Trigger.RECEIVED)
    d2 = ack(d1.state, "read", "dr-a")
    assert d2.state.status is S.READ
    d3 = ack(d2.state, "accepted", "dr-a")
    assert_changed(d2.state, d3, Trigger.ACCEPTED)
    assert (d3.state.status, d3.state.accepted_by) == (S.ACCEPTED, "dr-a")
    assert CancelTimers() in d3.effects and not effects(d3, ScheduleTimer)
    stale = on_ack_timeout(d3.state, 0, later(60))
    assert_unchanged(d3.state, stale, "stale timer")
    assert stale.effects == ()
    d4 = ack(d3.state, "callback_completed", "dr-a")
    assert_changed(d3.state, d4, Trigger.CALLBACK_COMPLETED)
    assert d4.state.status is S.COMPLETED


def test_a_second_clinician_cannot_accept() -> None:
    at_backup = on_no_reachable_device(started().state, 0, later(1)).state
    first = ack(at_backup, "accepted", "dr-a")  # the primary, paged earlier, still may
    assert first.state.accepted_by == "dr-a"
    second = ack(first.state, "accepted", "dr-b")
    assert_unchanged(
        first.state, second, "illegal transition: accepted is not allowed in status accepted"
    )
    assert [a.action for a in effects(second, AuditEntry)] == ["accepted_refused"]


@pytest.mark.parametrize(
    ("who", "accepted"),
    [("dr-a", True), (DESK, True), ("dr-b", False), ("dr-stranger", False)],
    ids=["paged-primary", "operator-desk", "backup-not-yet-paged", "never-paged"],
)
def test_who_may_accept(who: str, accepted: bool) -> None:
    d = ack(started().state, "accepted", who)
    assert (d.state.status is S.ACCEPTED) is accepted
    assert d.rejected == (None if accepted else "not paged")


def test_a_clinician_can_accept_at_the_operator_step() -> None:
    d = start_dispatch("dsp-1", "prac-1", Urgency.URGENT, plan(("dr-a",), repeats=0), T0)
    at_operator = fire(d).state
    assert at_operator.status is S.OPERATOR
    accepted = ack(at_operator, "accepted", "dr-a")
    assert accepted.state.status is S.ACCEPTED
    assert ack(accepted.state, "callback_completed", "dr-a").state.status is S.COMPLETED


@pytest.mark.parametrize(
    ("who", "status", "rejected"),
    [("dr-a", S.COMPLETED, None), ("dr-b", S.ACCEPTED, "only the accepter can complete")],
    ids=["accepter", "someone-else"],
)
def test_only_the_accepter_completes(who: str, status: S, rejected: str | None) -> None:
    accepted = ack(started().state, "accepted", "dr-a").state
    d = ack(accepted, "callback_completed", who)
    assert (d.state.status, d.rejected) == (status, rejected)


def test_completion_needs_acceptance() -> None:
    state = started().state
    d = ack(state, "callback_completed", "dr-a")
    assert_unchanged(
        state, d, "illegal transition: callback_completed is not allowed in status sent"
    )


# --- receipts, duplicates, idempotency ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "who"),
    [("received", "dr-a"), ("read", "dr-a"), ("read", "dr-b")],
    ids=["late-delivery", "late-read", "late-read-other-device"],
)
def test_receipts_after_acceptance_are_silent_no_ops(kind: str, who: str) -> None:
    at_backup = on_no_reachable_device(started().state, 0, later(1)).state
    accepted = ack(at_backup, "accepted", "dr-b").state
    d = ack(accepted, kind, who)  # type: ignore[arg-type]
    assert d == Decision(accepted, ())


def test_receipt_from_an_earlier_level_does_not_move_the_current_status() -> None:
    at_backup = on_no_reachable_device(started().state, 0, later(1)).state
    assert ack(at_backup, "read", "dr-a") == Decision(at_backup, ())


def test_duplicate_event_id_is_a_no_op() -> None:
    state = started().state
    first = ack(state, "accepted", "dr-a", event_id="evt-same")
    again = ack(first.state, "accepted", "dr-a", event_id="evt-same")
    assert again == Decision(first.state, (), "duplicate")
    assert first.state.processed_event_ids == ("evt-same",)


def test_processed_event_ids_keep_the_most_recent() -> None:
    old = tuple(f"evt-{n}" for n in range(MAX_PROCESSED_EVENT_IDS))
    full = replace(started().state, processed_event_ids=old)
    d = ack(full, "accepted", "dr-a", event_id="evt-new")
    assert d.state.processed_event_ids == (*old[1:], "evt-new")


def test_refused_input_is_not_remembered() -> None:
    state = started().state
    d = ack(state, "accepted", "dr-stranger", event_id="evt-x")
    assert d.state.processed_event_ids == ()


# --- declines -------------------------------------------------------------------------------


def test_decline_by_part_of_a_level_keeps_the_others_paged() -> None:
    state = started(("dr-a", "dr-c"), ("dr-b",)).state
    d = ack(state, "declined", "dr-a")
    assert_changed(state, d, Trigger.DECLINED)
    assert (d.state.status, d.state.step, d.state.declined_by) == (S.SENT, 0, ("dr-a",))
    assert not effects(d, PagePerson) and not effects(d, ScheduleTimer)
    assert ack(d.state, "declined", "dr-a").rejected == "already declined"
    repaged = fire(started(("dr-a", "dr-c"), ("dr-b",)))  # control: both re-paged
    assert paged_ids(repaged) == ["dr-a", "dr-c"]
    after_decline = on_ack_timeout(d.state, 0, later(60))
    assert paged_ids(after_decline) == ["dr-c"]  # whoever declined is not re-paged


def test_whole_level_declining_escalates_at_once() -> None:
    state = ack(started(("dr-a", "dr-c"), ("dr-b",)).state, "declined", "dr-c", at=5).state
    d = ack(state, "declined", "dr-a", at=7)
    assert_changed(state, d, Trigger.ESCALATED)
    assert (d.state.step, d.state.status) == (2, S.SENT)  # repeats=1: steps 0, 1 are primary
    assert d.effects[0] == CancelTimers()
    assert effects(d, PagePerson) == [PagePerson(2, 1, "dr-b")]
    assert effects(d, ScheduleTimer) == [ScheduleTimer(2, later(67))]
    last = ack(d.state, "declined", "dr-b", at=9)
    assert last.state.status is S.OPERATOR
    assert effects(last, NotifyOperatorDesk) == [
        NotifyOperatorDesk(DESK, "every clinician declined")
    ]


@pytest.mark.parametrize(
    ("who", "reason"),
    [("dr-b", "not a current target"), (DESK, "not a current target")],
    ids=["backup-not-current", "desk"],
)
def test_decline_by_someone_not_currently_paged_is_refused(who: str, reason: str) -> None:
    state = started().state
    assert_unchanged(state, ack(state, "declined", who), reason)


# --- no reachable device --------------------------------------------------------------------


def test_no_reachable_device_skips_the_rest_of_the_level() -> None:
    d0 = started(("dr-a",), ("dr-b",), repeats=2)
    d1 = on_no_reachable_device(d0.state, 0, later(2))
    assert_changed(d0.state, d1, Trigger.ESCALATED)
    assert (d1.state.step, paged_ids(d1)) == (3, ["dr-b"])
    assert d1.effects[0] == CancelTimers()
    d2 = on_no_reachable_device(d1.state, 3, later(3))
    assert d2.state.status is S.OPERATOR
    assert effects(d2, NotifyOperatorDesk) == [NotifyOperatorDesk(DESK, "no reachable device")]


@pytest.mark.parametrize("step", [1, 3, -1], ids=["future", "far", "negative"])
def test_no_reachable_device_for_a_stale_step_is_refused(step: int) -> None:
    state = started().state
    assert on_no_reachable_device(state, step, later(1)) == Decision(state, (), "stale step")


# --- stale timers, cancel -------------------------------------------------------------------


def test_stale_timers_change_nothing() -> None:
    d = fire(started())
    for step in (0, 2, 7):
        assert on_ack_timeout(d.state, step, later(999)) == Decision(d.state, (), "stale timer")


def test_cancel_stops_timers_and_is_final() -> None:
    state = started().state
    d = on_cancel(state, "prac-admin-1", later(5))
    assert_changed(state, d, Trigger.CANCELLED)
    assert d.effects[0] == CancelTimers()
    again = on_cancel(d.state, "prac-admin-1", later(6))
    assert_unchanged(
        d.state, again, "illegal transition: cancelled is not allowed in status cancelled"
    )
    assert on_ack_timeout(d.state, 0, later(60)).rejected == "stale timer"


# --- persistence ----------------------------------------------------------------------------


def _states() -> list[DispatchState]:
    first = started(urgency=Urgency.EMERGENCY)
    declined = ack(started(("dr-a", "dr-c")).state, "declined", "dr-c").state
    return [
        first.state,
        ack(first.state, "accepted", "dr-a", event_id="evt-acc").state,
        start_dispatch("dsp-2", "prac-2", Urgency.ROUTINE, plan(timeout=0.5), later(3)).state,
        declined,
    ]


@pytest.mark.parametrize("state", _states(), ids=["sent", "accepted", "operator", "declined"])
def test_state_json_round_trip(state: DispatchState) -> None:
    data = json.loads(json.dumps(state.to_dict()))
    assert DispatchState.from_dict(data) == state
    assert data["created_at"] == state.created_at.isoformat()


def test_from_dict_refuses_naive_timestamps() -> None:
    data = started().state.to_dict() | {"updated_at": "2026-03-07T03:00:00"}
    with pytest.raises(ValueError, match="timezone-aware"):
        DispatchState.from_dict(data)


# --- property: timers only ------------------------------------------------------------------

CLINICIANS = [f"dr-{n}" for n in range(8)]


@given(
    levels=st.lists(
        st.lists(st.sampled_from(CLINICIANS), min_size=1, max_size=3, unique=True), max_size=3
    ),
    repeats=st.integers(0, 3),
    timeout=st.floats(0.1, 3600),
    stale=st.lists(st.integers(-2, 20), max_size=6),
)
def test_timer_firings_page_each_level_1_plus_repeats_and_end_at_the_operator(
    levels: list[list[str]], repeats: int, timeout: float, stale: list[int]
) -> None:
    built = plan(*(tuple(level) for level in levels), timeout=timeout, repeats=repeats)
    d = start_dispatch("dsp-p", "prac-p", Urgency.URGENT, built, T0)
    all_effects = list(d.effects)
    while d.state.status is not S.OPERATOR:
        for step in stale:  # interleave stale firings: never any change
            if step != d.state.step:
                assert on_ack_timeout(d.state, step, later(1)) == Decision(
                    d.state, (), "stale timer"
                )
        d = fire(d)
        all_effects += d.effects
    pages = Counter(
        (built.step(e.step).level, e.clinician_id) for e in all_effects if isinstance(e, PagePerson)
    )
    expected = {(i, who): 1 + repeats for i, level in enumerate(levels) for who in level}
    assert pages == expected
    assert [e for e in all_effects if isinstance(e, NotifyOperatorDesk)] == [
        NotifyOperatorDesk(DESK, "no acknowledgement" if levels else "nobody on call")
    ]
    assert d.state.version == len(built.steps)
    for step in range(-1, len(built.steps) + 1):
        assert on_ack_timeout(d.state, step, later(1)).state == d.state
