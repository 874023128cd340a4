"""What acknowledgements do to a dispatch (private; see :func:`engine.domain.dispatch.on_ack`).

Each handler checks legality with the transition table first (``IllegalTransition``
propagates to ``on_ack``, which refuses the input), then who may do it:

* receipts (``received`` / ``read``) move the status only for the current step's
  targets; late or redundant receipts are no-ops (no change, nothing emitted);
* ``accepted`` by anyone paged so far or by the operator desk; it stops all timers;
* ``declined`` by a current target; when the whole level has declined, the next level
  (or the desk) is paged at once;
* ``callback_completed`` only by whoever accepted.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from engine.domain._dispatch_moves import enter_step, move, next_level, refuse
from engine.domain.dispatch_state import CancelTimers, Decision, DispatchState
from engine.domain.state_machine import DispatchStatus, Trigger, next_status

__all__ = ["handle_ack"]


def handle_ack(state: DispatchState, trigger: Trigger, who: str, now: datetime) -> Decision:
    """Apply acknowledgement ``trigger`` from ``who``; raises ``IllegalTransition``."""
    to = next_status(state.status, trigger)
    if trigger in (Trigger.RECEIVED, Trigger.READ):
        return _receipt(state, trigger, to, who, now)
    if trigger is Trigger.ACCEPTED:
        return _accept(state, who, now)
    if trigger is Trigger.DECLINED:
        return _decline(state, who, now)
    if trigger is Trigger.CALLBACK_COMPLETED:
        return _complete(state, who, now)
    raise ValueError(f"{trigger.value} is not an acknowledgement")


def _receipt(
    state: DispatchState, trigger: Trigger, to: DispatchStatus, who: str, now: datetime
) -> Decision:
    if who not in state.paged:
        return refuse(state, trigger, who, "not paged")
    if to == state.status or who not in state.current_step.targets:
        return Decision(state, ())  # late or redundant receipt: nothing to record
    if trigger is Trigger.READ and state.plan.stop_on_read:  # the policy's stop condition
        return move(
            state,
            trigger,
            now,
            actor=who,
            detail="read: escalation stops (policy)",
            effects=(CancelTimers(),),
        )
    return move(state, trigger, now, actor=who, detail=f"{trigger.value} on a paged device")


def _accept(state: DispatchState, who: str, now: datetime) -> Decision:
    if who not in state.paged and who != state.operator_desk:
        return refuse(state, Trigger.ACCEPTED, who, "not paged")
    return move(
        state,
        Trigger.ACCEPTED,
        now,
        actor=who,
        detail=f"accepted at {state.current_step.level_name}",
        effects=(CancelTimers(),),
        accepted_by=who,
    )


def _decline(state: DispatchState, who: str, now: datetime) -> Decision:
    here = state.current_step
    if who not in here.targets:
        return refuse(state, Trigger.DECLINED, who, "not a current target")
    if who in state.declined_by:
        return Decision(state, (), "already declined")
    recorded = replace(state, declined_by=(*state.declined_by, who))
    left = [t for t in here.targets if t not in recorded.declined_by]
    if left:
        detail = f"declined; {len(left)} of {len(here.targets)} still paged at {here.level_name}"
        return move(recorded, Trigger.DECLINED, now, actor=who, detail=detail)
    return enter_step(
        recorded,
        next_level(state),
        Trigger.ESCALATED,
        now,
        actor=who,
        detail=f"all of {here.level_name} declined",
        reason="every clinician declined",
        lead=(CancelTimers(),),
    )


def _complete(state: DispatchState, who: str, now: datetime) -> Decision:
    if who != state.accepted_by:
        return refuse(state, Trigger.CALLBACK_COMPLETED, who, "only the accepter can complete")
    return move(state, Trigger.CALLBACK_COMPLETED, now, actor=who, detail="callback completed")
