"""Dispatch decisions: paging, re-paging, escalation, acceptance, declines, idempotency,
round trip. Pages, receipts, reads, the desk and resolution are in test_dispatch_pages."""

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
    Actor,
    AuditEntry,
    CancelTimer,
    Decision,
    DispatchState,
    NotifyOperatorDesk,
    PagePerson,
    ScheduleTimer,
    StateChanged,
    on_ack_timeout,
    on_cancel,
    on_pages_failed,
    start_dispatch,
)
from engine.domain.state_machine import DispatchStatus, Trigger
from engine.schemas.intake import Urgency
from tests.unit.dispatch_factories import (
    DESK,
    T0,
    ack,
    effects,
    fire,
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


# --- start ---------------------------------------------------------------------------------


def test_start_pages_every_primary_and_sets_the_timer() -> None:
    d = started(("dr-a", "dr-c"), ("dr-b",), timeout=90)
    assert (d.state.status, d.state.step, d.state.version, d.state.page) == (S.SENT, 0, 1, 1)
    assert effects(d, PagePerson) == [PagePerson(0, 1, "dr-a", 1), PagePerson(0, 1, "dr-c", 1)]
    assert effects(d, ScheduleTimer) == [ScheduleTimer(0, later(90), 1, "ack")]
    assert d.state.paged == ("dr-a", "dr-c")
    assert effects(d, StateChanged) == [StateChanged(None, S.SENT, 0, Trigger.PAGE_SENT)]
    [audit] = effects(d, AuditEntry)
    assert (audit.actor, audit.from_status, audit.to_status) == ("system", None, "sent")
    assert "paging primary #1: dr-a, dr-c" in audit.detail
    assert d.state.created_at == d.state.updated_at == T0


def test_nobody_on_call_goes_straight_to_the_operator_desk_with_its_timer() -> None:
    d = start_dispatch("dsp-1", "prac-1", Urgency.EMERGENCY, plan(desk_timeout=45), T0)
    assert d.state.status is S.OPERATOR
    assert effects(d, NotifyOperatorDesk) == [NotifyOperatorDesk(DESK, "nobody on call", 1, 1)]
    assert not effects(d, PagePerson)
    assert effects(d, ScheduleTimer) == [ScheduleTimer(0, later(45), 1, "ack")]
    assert effects(d, StateChanged)[0].trigger is Trigger.HANDED_TO_OPERATOR


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        start_dispatch("dsp-1", "prac-1", Urgency.URGENT, plan(), datetime(2026, 3, 7, 3))


# --- no acknowledgement: re-page, backup, operator ------------------------------------------

# repeats=1, timeout=60, desk 30: (step, status, pages as (attempt, who), timer due after T0)
NO_ACK = [
    ("primary-repage", 1, S.SENT, [(2, "dr-a")], 120),
    ("backup-page", 2, S.SENT, [(1, "dr-b")], 180),
    ("backup-repage", 3, S.SENT, [(2, "dr-b")], 240),
    ("operator", 4, S.OPERATOR, [], 270),
]


def test_no_ack_repages_then_backup_then_operator() -> None:
    d = started()
    for number, (name, step, status, pages, due) in enumerate(NO_ACK, start=2):
        before, d = d.state, fire(d)
        trigger = Trigger.HANDED_TO_OPERATOR if status is S.OPERATOR else Trigger.ACK_TIMEOUT
        assert_changed(before, d, trigger)
        assert (d.state.step, d.state.status, d.state.page) == (step, status, number), name
        got = [(p.attempt, p.clinician_id, p.page) for p in effects(d, PagePerson)]
        assert got == [(a, who, number) for a, who in pages], name
        assert effects(d, ScheduleTimer) == [ScheduleTimer(step, later(due), number)], name
        assert CancelTimer(before.step, before.page, "ack") in d.effects, name
    assert effects(d, NotifyOperatorDesk) == [NotifyOperatorDesk(DESK, "no acknowledgement", 5, 1)]
    assert d.state.paged == ("dr-a", "dr-b")
    assert "no ack after 60s" in effects(d, AuditEntry)[0].detail


def test_sub_second_timeouts() -> None:
    d = fire(started(("dr-a",), timeout=0.5, repeats=1))
    assert effects(d, ScheduleTimer) == [ScheduleTimer(1, later(1.0), 2)]


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
    assert effects(d3, CancelTimer) == [CancelTimer(0, 1, "ack")]
    assert not effects(d3, ScheduleTimer)
    stale = on_ack_timeout(d3.state, 0, later(60), page=1)
    assert_unchanged(d3.state, stale, "stale timer")
    assert stale.effects == ()
    d4 = ack(d3.state, "callback_completed", "dr-a")
    assert_changed(d3.state, d4, Trigger.CALLBACK_COMPLETED)
    assert d4.state.status is S.COMPLETED


def test_a_second_clinician_cannot_accept() -> None:
    at_backup = on_pages_failed(started().state, 0, ("dr-a",), later(1), page=1).state
    first = ack(at_backup, "accepted", "dr-a")  # the primary, paged earlier, still may
    assert first.state.accepted_by == "dr-a"
    second = ack(first.state, "accepted", "dr-b")
    assert_unchanged(
        first.state, second, "illegal transition: accepted is not allowed in status accepted"
    )
    assert [a.action for a in effects(second, AuditEntry)] == ["accepted_refused"]


@pytest.mark.parametrize(
    ("who", "accepted"),
    [("dr-a", True), (DESK, False), ("dr-b", False), ("dr-stranger", False)],
    ids=["paged-primary", "desk-id-used-by-a-clinician", "backup-not-yet-paged", "never-paged"],
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
    assert effects(accepted, CancelTimer) == [CancelTimer(at_operator.step, 2, "ack")]
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


# --- duplicates, idempotency ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "who"),
    [("received", "dr-a"), ("read", "dr-a"), ("read", "dr-b")],
    ids=["late-delivery", "late-read", "late-read-other-device"],
)
def test_receipts_after_acceptance_are_silent_no_ops(kind: str, who: str) -> None:
    at_backup = on_pages_failed(started().state, 0, ("dr-a",), later(1), page=1).state
    accepted = ack(at_backup, "accepted", "dr-b").state
    d = ack(accepted, kind, who)  # type: ignore[arg-type]
    assert d == Decision(accepted, ())


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
    after_decline = on_ack_timeout(d.state, 0, later(60), page=1)
    assert paged_ids(after_decline) == ["dr-c"]  # whoever declined is not re-paged


def test_whole_level_declining_escalates_at_once() -> None:
    state = ack(started(("dr-a", "dr-c"), ("dr-b",)).state, "declined", "dr-c", at=5).state
    d = ack(state, "declined", "dr-a", at=7)
    assert_changed(state, d, Trigger.ESCALATED)
    assert (d.state.step, d.state.status) == (2, S.SENT)  # repeats=1: steps 0, 1 are primary
    assert effects(d, CancelTimer) == [CancelTimer(0, 1, "ack")]
    assert effects(d, PagePerson) == [PagePerson(2, 1, "dr-b", 2)]
    assert effects(d, ScheduleTimer) == [ScheduleTimer(2, later(67), 2)]
    last = ack(d.state, "declined", "dr-b", at=9)
    assert last.state.status is S.OPERATOR
    assert effects(last, NotifyOperatorDesk) == [
        NotifyOperatorDesk(DESK, "every clinician declined", 3, 1)
    ]


def test_a_level_whose_reachable_people_all_declined_escalates() -> None:
    state = started(("dr-a", "dr-c"), ("dr-b",)).state
    unreached = on_pages_failed(state, 0, ("dr-c",), later(1), page=1)
    assert_changed(state, unreached, Trigger.PAGE_FAILED)
    assert unreached.state.unreached == ("dr-c",)
    d = ack(unreached.state, "declined", "dr-a", at=2)
    assert (d.state.step, paged_ids(d)) == (2, ["dr-b"])


@pytest.mark.parametrize(
    ("who", "reason"),
    [("dr-b", "not a current target"), (DESK, "not a current target")],
    ids=["backup-not-current", "desk"],
)
def test_decline_by_someone_not_currently_paged_is_refused(who: str, reason: str) -> None:
    state = started().state
    assert_unchanged(state, ack(state, "declined", who), reason)


def test_a_decline_of_an_earlier_levels_page_is_refused() -> None:
    at_backup = on_pages_failed(started().state, 0, ("dr-a",), later(1), page=1).state
    d = ack(at_backup, "declined", "dr-b", page=1)
    assert_unchanged(at_backup, d, "not a current target: an earlier level")


# --- pages nobody could receive -------------------------------------------------------------


def test_no_reachable_device_skips_the_rest_of_the_level() -> None:
    d0 = started(("dr-a",), ("dr-b",), repeats=2)
    d1 = on_pages_failed(d0.state, 0, ("dr-a",), later(2), page=1)
    assert_changed(d0.state, d1, Trigger.ESCALATED)
    assert (d1.state.step, paged_ids(d1)) == (3, ["dr-b"])
    assert effects(d1, CancelTimer) == [CancelTimer(0, 1, "ack")]
    d2 = on_pages_failed(d1.state, 3, ("dr-b",), later(3), page=2)
    assert d2.state.status is S.OPERATOR
    assert effects(d2, NotifyOperatorDesk) == [
        NotifyOperatorDesk(DESK, "no reachable device", 3, 1)
    ]
    assert d2.state.unreached == ("dr-a", "dr-b")


@pytest.mark.parametrize("page", [1, 3, 9], ids=["earlier", "future", "far"])
def test_failures_for_another_page_are_stale(page: int) -> None:
    state = fire(started()).state  # page 2 is the latest
    assert on_pages_failed(state, 1, ("dr-a",), later(1), page=page) == Decision(
        state, (), "stale step"
    )


# --- stale timers, cancel -------------------------------------------------------------------


def test_stale_timers_change_nothing() -> None:
    d = fire(started())  # page 2, step 1
    for step, page in ((0, 1), (1, 1), (1, 3), (7, 9)):
        stale = on_ack_timeout(d.state, step, later(999), page=page)
        assert stale == Decision(d.state, (), "stale timer")
    assert on_ack_timeout(d.state, 0, later(999)) == Decision(d.state, (), "stale timer")


def test_cancel_stops_timers_and_is_final() -> None:
    state = started().state
    d = on_cancel(state, "prac-admin-1", later(5))
    assert_changed(state, d, Trigger.CANCELLED)
    assert effects(d, CancelTimer) == [CancelTimer(0, 1, "ack")]
    again = on_cancel(d.state, "prac-admin-1", later(6))
    assert_unchanged(
        d.state, again, "illegal transition: cancelled is not allowed in status cancelled"
    )
    assert on_ack_timeout(d.state, 0, later(60), page=1).rejected == "stale timer"


# --- persistence ----------------------------------------------------------------------------


def _states() -> list[DispatchState]:
    first = started(urgency=Urgency.EMERGENCY, receipt_timeout=20)
    declined = ack(started(("dr-a", "dr-c")).state, "declined", "dr-c").state
    at_desk = start_dispatch("dsp-2", "prac-2", Urgency.ROUTINE, plan(timeout=0.5), later(3))
    return [
        first.state,
        ack(first.state, "accepted", "dr-a", event_id="evt-acc").state,
        at_desk.state,
        declined,
    ]


@pytest.mark.parametrize("state", _states(), ids=["sent", "accepted", "operator", "declined"])
def test_state_json_round_trip(state: DispatchState) -> None:
    data = json.loads(json.dumps(state.to_dict()))
    assert DispatchState.from_dict(data) == state
    assert data["created_at"] == state.created_at.isoformat()


def test_a_state_stored_before_pages_were_numbered_still_loads() -> None:
    data = started().state.to_dict()
    for name in ("page", "level_page", "targets", "page_targets", "ack_due_at", "desk_alerts"):
        del data[name]
    data["plan"]["steps"][-1]["timeout_seconds"] = None  # the desk had no timer then
    old = DispatchState.from_dict(data)
    assert (old.page, old.level_targets, old.plan.operator_step.timeout_seconds) == (
        0,
        ("dr-a",),
        60.0,
    )
    assert paged_ids(on_ack_timeout(old, 0, later(60))) == ["dr-a"]  # re-paged by step


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
    desk_alerts=st.integers(1, 4),
)
def test_timer_firings_page_each_level_1_plus_repeats_then_alert_the_desk_until_claimed(
    levels: list[list[str]], repeats: int, timeout: float, stale: list[int], desk_alerts: int
) -> None:
    built = plan(*(tuple(level) for level in levels), timeout=timeout, repeats=repeats)
    d = start_dispatch("dsp-p", "prac-p", Urgency.URGENT, built, T0)
    all_effects = list(d.effects)
    while d.state.desk_alerts < desk_alerts:
        for page in stale:  # interleave stale firings: never any change
            if page != d.state.page:
                assert on_ack_timeout(d.state, d.state.step, later(1), page=page) == Decision(
                    d.state, (), "stale timer"
                )
        d = fire(d)
        all_effects += d.effects
    pages = Counter(
        (built.step(e.step).level, e.clinician_id) for e in all_effects if isinstance(e, PagePerson)
    )
    first_level = {who: i for i, level in reversed(list(enumerate(levels))) for who in level}
    expected = {(i, who): 1 + repeats for who, i in first_level.items()}
    assert pages == expected  # nobody paged at two levels; the desk re-alerts page nobody
    alerts = [e for e in all_effects if isinstance(e, NotifyOperatorDesk)]
    assert [a.alert for a in alerts] == list(range(1, desk_alerts + 1))
    assert alerts[0].reason == ("no acknowledgement" if levels else "nobody on call")
    numbers = [e.page for e in all_effects if isinstance(e, PagePerson | NotifyOperatorDesk)]
    assert sorted(set(numbers)) == list(range(1, d.state.page + 1))  # one number per page
    claimed = ack(d.state, "accepted", Actor("op-1", DESK))
    assert (claimed.state.status, claimed.state.accepted_by) == (S.ACCEPTED, "op-1")
    pending = replace(d, state=claimed.state)  # the desk's re-alert timer fires anyway
    assert fire(pending) == Decision(claimed.state, (), "stale timer")
