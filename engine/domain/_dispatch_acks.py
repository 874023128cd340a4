"""What acknowledgements do to a dispatch (private; see :func:`engine.domain.dispatch.on_ack`).

Each handler checks legality with the transition table first (``IllegalTransition``
propagates to ``on_ack``, which refuses the input), then who may do it and which page
it answers:

* receipts (``received`` / ``read``) count only for the latest page and only from
  someone it paged; a receipt without a page number (the old form) counts only while
  that is unambiguous (the current level has had one page). A read may pause
  re-paging of that page for the policy's grace, once; it never ends the dispatch;
* ``accepted`` by a clinician paged so far, or a claim by an operator at the
  dispatch's desk once the desk has it; it stops all timers;
* ``declined`` by someone paged at the current level; when everyone there who can
  still answer has declined, the next level (or the desk) is paged at once;
* ``callback_completed`` only by whoever accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from engine.domain._dispatch_moves import (
    Resolver,
    cancel_timers,
    enter_step,
    move,
    next_level,
    refuse,
)
from engine.domain.dispatch_state import Decision, DispatchState, ScheduleTimer
from engine.domain.state_machine import PAGING, DispatchStatus, Trigger, next_status

__all__ = ["Actor", "handle_ack"]


@dataclass(frozen=True)
class Actor:
    """Who acknowledges: a clinician (``desk_id`` None) or an operator at ``desk_id``."""

    id: str
    desk_id: str | None = None

    @property
    def at_desk(self) -> bool:
        return self.desk_id is not None


def handle_ack(
    state: DispatchState,
    trigger: Trigger,
    who: Actor,
    page: int | None,
    now: datetime,
    resolve: Resolver | None = None,
) -> Decision:
    """Apply acknowledgement ``trigger`` from ``who`` for ``page``; raises ``IllegalTransition``."""
    to = next_status(state.status, trigger)
    if trigger is Trigger.ACCEPTED:
        return _accept(state, who, page, now)
    if trigger is Trigger.CALLBACK_COMPLETED:
        return _complete(state, who, now)
    if who.at_desk:
        return refuse(state, trigger, who.id, "not a desk action")
    if trigger in (Trigger.RECEIVED, Trigger.READ):
        return _receipt(state, trigger, to, who.id, page, now)
    if trigger is Trigger.DECLINED:
        return _decline(state, who.id, page, now, resolve)
    raise ValueError(f"{trigger.value} is not an acknowledgement")


def _answered_page(state: DispatchState, page: int | None) -> int | None:
    """The page a receipt answers; for the old form without a page, the latest page
    when the current level has had only that one (else None: ambiguous)."""
    if page is not None:
        return page
    return state.page if state.page == state.level_page and state.page > 0 else None


def _receipt(
    state: DispatchState,
    trigger: Trigger,
    to: DispatchStatus,
    who: str,
    page: int | None,
    now: datetime,
) -> Decision:
    if who not in state.paged:
        return refuse(state, trigger, who, "not paged")
    answered = _answered_page(state, page)
    waiting = state.status in PAGING or state.status is DispatchStatus.OPERATOR
    if not waiting or answered != state.page or who not in state.page_targets:
        return Decision(state, ())  # accepted already, an earlier page, or ambiguous
    known = who in state.received and (trigger is Trigger.RECEIVED or to == state.status)
    if known:
        return Decision(state, ())  # a repeated receipt
    changes: dict[str, Any] = {
        "received": tuple(dict.fromkeys((*state.received, who))),
        "level_received": tuple(dict.fromkeys((*state.level_received, who))),
        "unreached": tuple(u for u in state.unreached if u != who),
    }
    detail = f"{trigger.value} page {state.page}"
    if trigger is Trigger.READ and state.status in PAGING:
        paused = _read_grace(state, now)
        if paused is not None:
            due, timer = paused
            detail += f"; re-paging paused until {due.isoformat()}"
            return move(
                state, trigger, now, actor=who, detail=detail, effects=(timer,),
                ack_due_at=due, grace_used=True, **changes,
            )  # fmt: skip
    return move(state, trigger, now, actor=who, detail=detail, **changes)


def _read_grace(state: DispatchState, now: datetime) -> tuple[datetime, ScheduleTimer] | None:
    """A read moves the page's ack deadline to ``now + grace`` once, if that is later."""
    grace = state.current_step.read_grace_seconds
    if not grace or state.grace_used or state.ack_due_at is None:
        return None
    due = now + timedelta(seconds=grace)
    if due <= state.ack_due_at:
        return None
    return due, ScheduleTimer(state.step, due, state.page, "ack")


def _accept(state: DispatchState, who: Actor, page: int | None, now: datetime) -> Decision:
    if who.at_desk:
        if who.desk_id != state.operator_desk:
            return refuse(state, Trigger.ACCEPTED, who.id, "another desk")
        if state.status is not DispatchStatus.OPERATOR:
            return refuse(state, Trigger.ACCEPTED, who.id, "not at the desk")
        detail = f"claimed at {who.desk_id}"
    elif who.id not in state.paged:
        return refuse(state, Trigger.ACCEPTED, who.id, "not paged")
    else:
        detail = f"accepted at {state.current_step.level_name}"
    if page is not None:
        detail += f" (page {page})"
    return move(
        state,
        Trigger.ACCEPTED,
        now,
        actor=who.id,
        detail=detail,
        effects=cancel_timers(state),
        accepted_by=who.id,
        accepted_at_desk=who.at_desk,
        ack_due_at=None,
        receipt_due_at=None,
    )


def _decline(
    state: DispatchState, who: str, page: int | None, now: datetime, resolve: Resolver | None
) -> Decision:
    if who not in state.level_targets or state.status not in PAGING:
        return refuse(state, Trigger.DECLINED, who, "not a current target")
    if page is not None and page < state.level_page:
        return refuse(state, Trigger.DECLINED, who, "not a current target: an earlier level")
    if who in state.declined_by:
        return Decision(state, (), "already declined")
    recorded = replace(state, declined_by=(*state.declined_by, who))
    waiting = set(recorded.declined_by) | set(recorded.unreached)
    left = [t for t in recorded.level_targets if t not in waiting]
    level = state.current_step.level_name
    if left:
        detail = f"declined; {len(left)} of {len(state.level_targets)} still paged at {level}"
        return move(recorded, Trigger.DECLINED, now, actor=who, detail=detail)
    return enter_step(
        recorded,
        next_level(state),
        Trigger.ESCALATED,
        now,
        actor=who,
        detail=f"all of {level} declined",
        reason="every clinician declined",
        resolve=resolve,
    )


def _complete(state: DispatchState, who: Actor, now: datetime) -> Decision:
    if who.id != state.accepted_by or who.at_desk != state.accepted_at_desk:
        return refuse(state, Trigger.CALLBACK_COMPLETED, who.id, "only the accepter can complete")
    return move(state, Trigger.CALLBACK_COMPLETED, now, actor=who.id, detail="callback completed")
