"""Dispatches stored by the version before pages were numbered and the desk was a level:
they load, their outboxes run, and each gets the deadline it must have pending."""

from __future__ import annotations

from dataclasses import replace

from engine.domain.dispatch import (
    DispatchState,
    NotifyOperatorDesk,
    PagePerson,
    on_ack_timeout,
    pending_deadline,
)
from engine.domain.escalation import EscalationPlan
from engine.domain.state_machine import DispatchStatus
from engine.handlers.outbox import effect_from_dict
from tests.unit.dispatch_factories import DESK, ack, effects, fire, later, started

S = DispatchStatus


def legacy(state: DispatchState, **changes: object) -> DispatchState:
    """``state`` as the earlier version stored it: no page numbers, no deadlines in the
    state, the desk step without a timeout, and ``stop_on_read`` on the plan."""
    data = replace(state, **changes).to_dict()  # type: ignore[arg-type]
    for name in ("page", "level_page", "targets", "page_targets", "ack_due_at",
                 "receipt_due_at", "desk_alerts", "received", "level_received"):  # fmt: skip
        data.pop(name)
    data["plan"]["steps"][-1]["timeout_seconds"] = None
    for step in data["plan"]["steps"]:
        step.pop("read_grace_seconds")
    data["plan"]["stop_on_read"] = True
    return DispatchState.from_dict(data)


def test_an_old_desk_hand_off_gets_a_deadline_due_now_and_alerts_the_desk_again() -> None:
    at_desk = fire(started(("dr-a",), repeats=0)).state
    old = legacy(at_desk)
    assert old.ack_due_at is None and old.status is S.OPERATOR
    step, page, due = pending_deadline(old, later(500)) or (None, None, None)
    assert (step, page, due) == (old.step, None, later(500))
    again = on_ack_timeout(old, old.step, later(500))  # the repaired timer, old member form
    assert [(e.desk_id, e.alert) for e in effects(again, NotifyOperatorDesk)] == [(DESK, 1)]
    assert again.state.ack_due_at is not None  # and it now has the desk's own timer


def test_an_old_dispatch_stopped_on_read_escalates_once_woken() -> None:
    read = ack(started(("dr-a",), ("dr-b",), repeats=0).state, "read", "dr-a").state
    old = legacy(read)
    assert old.status is S.READ and pending_deadline(old, later(90))[2] == later(90)  # type: ignore[index]
    woken = on_ack_timeout(old, old.step, later(90))
    assert [p.clinician_id for p in effects(woken, PagePerson)] == ["dr-b"]


def test_an_old_stop_on_read_plan_reads_as_one_timeout_of_grace() -> None:
    plan = legacy(started(("dr-a",), timeout=45).state).plan
    assert {s.read_grace_seconds for s in plan.steps if not s.is_operator} == {45}
    assert EscalationPlan.from_dict(plan.to_dict()) == plan


def test_owned_or_ended_dispatches_need_no_deadline() -> None:
    accepted = ack(started().state, "accepted", "dr-a").state
    assert pending_deadline(accepted, later(5)) is None
    assert pending_deadline(started().state, later(5)) == (0, 1, later(60))


def test_an_old_outbox_entry_takes_the_defaults_of_new_fields() -> None:
    desk = effect_from_dict({"type": "NotifyOperatorDesk", "desk_id": DESK, "reason": "x"})
    page = effect_from_dict({"type": "PagePerson", "step": 0, "attempt": 1, "clinician_id": "a"})
    assert desk == NotifyOperatorDesk(DESK, "x", 0, 1)
    assert page == PagePerson(0, 1, "a", 0)
