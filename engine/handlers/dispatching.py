"""Run dispatch decisions: load the state, decide (pure), commit with a version
check, then run the effects from the outbox.

Commit first, effects after: a crash in between leaves the effects in the
outbox, and the redelivered input (now a duplicate or a stale timer) runs them.
Concurrent inputs for one dispatch (an ack racing a timer) lose the version
check and are decided again on the fresh state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from engine.domain.dispatch import (
    AuditEntry,
    CancelTimers,
    Decision,
    DispatchState,
    ScheduleTimer,
    on_no_reachable_device,
)
from engine.handlers.effects import run_effects
from engine.handlers.outbox import effect_from_dict, effect_to_dict
from engine.handlers.services import Services
from engine.handlers.timers import ack_timer_member, receipt_timer_member
from engine.ports import StoredDispatch

__all__ = ["ConcurrentUpdateError", "decide_and_apply"]

log = logging.getLogger(__name__)

Decide = Callable[[DispatchState | None, datetime], Decision | None]


class ConcurrentUpdateError(RuntimeError):
    """The dispatch kept changing under us; the input is retried by Kafka redelivery."""


async def decide_and_apply(
    svc: Services,
    dispatch_id: str,
    decide: Decide,
    meta: dict[str, Any] | None = None,
    consumed_timer: str | None = None,
    attempts: int = 8,
) -> Decision | None:
    """Apply one input to a dispatch; returns the decision (None if nothing to decide)."""
    for _ in range(attempts):
        stored = await svc.dispatches.load(dispatch_id)
        state = DispatchState.from_dict(stored.state) if stored else None
        now = svc.clock.now()
        decision = decide(state, now)
        if decision is None:
            return None
        if stored is not None and (decision.rejected or decision.state.version == stored.version):
            await _on_unchanged(svc, dispatch_id, stored, decision, consumed_timer)
            return decision
        adds, removes, outbox = _split(dispatch_id, decision, svc.receipt_timeout_s)
        if consumed_timer:
            removes.append(consumed_timer)
        merged_meta = {**(stored.meta if stored else {}), **(meta or {})}
        new = StoredDispatch(
            state=decision.state.to_dict(),
            version=decision.state.version,
            outbox=[effect_to_dict(e) for e in outbox],
            meta=merged_meta,
        )
        expected = stored.version if stored else 0
        if not await svc.dispatches.commit(dispatch_id, expected, new, adds, removes):
            continue
        await _run_and_clear(svc, decision.state, outbox, merged_meta)
        return decision
    raise ConcurrentUpdateError(f"dispatch {dispatch_id} changed {attempts} times while deciding")


async def _on_unchanged(
    svc: Services,
    dispatch_id: str,
    stored: StoredDispatch,
    decision: Decision,
    consumed_timer: str | None,
) -> None:
    if decision.rejected:
        svc.metrics.illegal_transitions.labels(_reason_label(decision.rejected)).inc()
        log.info("dispatch %s: input rejected (%s)", dispatch_id, decision.rejected)
        refusals = [e for e in decision.effects if isinstance(e, AuditEntry)]
        if refusals:  # refused inputs are audited, though nothing changed
            await run_effects(svc, decision.state, refusals, stored.meta)
    if consumed_timer:
        await svc.timers.remove([consumed_timer])
    if stored.outbox:  # a crash left effects unrun: run them now
        state = DispatchState.from_dict(stored.state)
        effects = [effect_from_dict(e) for e in stored.outbox]
        await _run_and_clear(svc, state, effects, stored.meta)


async def _run_and_clear(
    svc: Services, state: DispatchState, effects: list[Any], meta: dict[str, Any]
) -> None:
    if effects:
        outcome = await run_effects(svc, state, effects, meta)
        await svc.dispatches.clear_outbox(state.dispatch_id, state.version)
        await _escalate_unreachable(svc, state.dispatch_id, outcome.unreachable)
        if outcome.late is not None:
            _finish_in_background(svc, state.dispatch_id, outcome.late)


async def _escalate_unreachable(svc: Services, dispatch_id: str, steps: list[int]) -> None:
    for step in steps:
        await decide_and_apply(svc, dispatch_id, _nobody_reachable(step))


_BACKGROUND: set[asyncio.Task[None]] = set()  # strong references until they finish


def _finish_in_background(svc: Services, dispatch_id: str, late: asyncio.Task[list[int]]) -> None:
    """Escalate once slow pushes are done, if nobody was reached. If the worker dies
    first, the page's receipt and ack timers still escalate: nothing waits forever."""

    async def finish() -> None:
        try:
            await _escalate_unreachable(svc, dispatch_id, await late)
        except Exception:
            log.exception("dispatch %s: background pushes failed", dispatch_id)

    task = asyncio.ensure_future(finish())
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def _nobody_reachable(step: int) -> Decide:
    def decide(current: DispatchState | None, now: datetime) -> Decision | None:
        return None if current is None else on_no_reachable_device(current, step, now)

    return decide


def _split(
    dispatch_id: str, decision: Decision, receipt_timeout_s: float | None = None
) -> tuple[dict[str, datetime], list[str], list[Any]]:
    adds: dict[str, datetime] = {}
    removes: list[str] = []
    outbox: list[Any] = []
    for effect in decision.effects:
        if isinstance(effect, ScheduleTimer):
            adds[ack_timer_member(dispatch_id, effect.step)] = effect.due_at
            receipt_due = decision.state.updated_at + timedelta(seconds=receipt_timeout_s or 0)
            if receipt_timeout_s and receipt_due < effect.due_at:
                adds[receipt_timer_member(dispatch_id, effect.step)] = receipt_due
        elif isinstance(effect, CancelTimers):
            for step in decision.state.plan.steps:
                removes += [
                    ack_timer_member(dispatch_id, step.index),
                    receipt_timer_member(dispatch_id, step.index),
                ]
        else:
            outbox.append(effect)
    for member in adds:
        if member in removes:
            removes.remove(member)
    return adds, removes, outbox


_KNOWN_REASONS = (
    "stale",
    "duplicate",
    "illegal",
    "not paged",
    "not a current target",
    "only the accepter",
    "already declined",
)


def _reason_label(rejected: str) -> str:
    """A bounded metric label from a rejection text."""
    lowered = rejected.lower()
    for known in _KNOWN_REASONS:
        if known in lowered:
            return known.replace(" ", "_")
    return "other"
