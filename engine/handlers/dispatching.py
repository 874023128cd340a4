"""Run dispatch decisions: load the state (and the practice, to resolve a level's people
when it starts), decide (pure), commit with a version check, then run the effects.

Commit first, effects after. The commit appends the decision's effects to the outbox,
claimed by this worker for ``Services.effect_lease_s``; each effect is removed when it
is done. A crash or a failure in between leaves the rest in the outbox, where the
effect scanner (:mod:`engine.handlers.effect_scanner`) or a redelivered input finds and
runs it; a page pushes only the devices no earlier run reached. Concurrent inputs for
one dispatch (an ack racing a timer) lose the version check and are decided again on
the fresh state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from engine.domain.dispatch import (
    AuditEntry,
    CancelTimer,
    Decision,
    DispatchState,
    PagePerson,
    Resolver,
    ScheduleTimer,
    on_pages_failed,
)
from engine.domain.escalation import level_resolver
from engine.failures import describe_failure
from engine.handlers.effects import EffectsOutcome, run_effects
from engine.handlers.outbox import (
    PendingEffect,
    entry_to_dict,
    new_entries,
    pending,
    retry_delay_s,
)
from engine.handlers.pages import FailedPage, PagesOutcome
from engine.handlers.services import Services
from engine.handlers.timers import timer_member
from engine.ports import StoredDispatch

__all__ = ["ConcurrentUpdateError", "Decide", "decide_and_apply", "run_stored_effects"]

log = logging.getLogger(__name__)

Decide = Callable[[DispatchState | None, datetime, Resolver | None], Decision | None]
"""``(stored state or None, now, who each level pages now)`` -> a decision, or None."""


class ConcurrentUpdateError(RuntimeError):
    """The dispatch kept changing under us: a transient failure, retried like an outage
    (see :func:`engine.transient.is_transient`), never a reason to drop the input."""

    transient = True


async def decide_and_apply(
    svc: Services,
    dispatch_id: str,
    decide: Decide,
    meta: dict[str, Any] | None = None,
    consumed_timer: str | None = None,
    attempts: int = 8,
    absent: bool = False,
) -> Decision | None:
    """Apply one input to a dispatch; returns the decision (None if nothing to decide).
    ``absent``: the caller has just read that the dispatch does not exist, so the first
    try skips the read (its commit expects version 0, so a dispatch created meanwhile
    makes it fail and the next try reads)."""
    for attempt in range(attempts):
        skip_read = absent and attempt == 0
        stored = None if skip_read else await svc.dispatches.load(dispatch_id)
        state = DispatchState.from_dict(stored.state) if stored else None
        resolve = await _resolver(svc, state)
        decision = decide(state, svc.clock.now(), resolve)
        if decision is None:
            return None
        if stored is not None and (decision.rejected or decision.state.version == stored.version):
            await _on_unchanged(svc, dispatch_id, stored, decision, consumed_timer)
            return decision
        adds, removes, effects = _split(dispatch_id, decision)
        if consumed_timer and consumed_timer not in adds:
            removes.append(consumed_timer)
        merged_meta = {**(stored.meta if stored else {}), **(meta or {})}
        entries = new_entries(decision.state.version, decision.state.updated_at, effects)
        new = StoredDispatch(
            state=decision.state.to_dict(),
            version=decision.state.version,
            outbox=[entry_to_dict(e) for e in entries],
            meta=merged_meta,
        )
        expected = stored.version if stored else 0
        claim_until = svc.clock.now() + timedelta(seconds=svc.effect_lease_s)
        # a settled dispatch is kept as long as its intake event id is remembered, then goes
        expire = svc.dedupe_ttl_s if decision.state.is_settled else None
        if not await svc.dispatches.commit(
            dispatch_id, expected, new, adds, removes, claim_until, expire
        ):
            continue
        await _run_and_complete(svc, decision.state, entries, merged_meta, {})
        return decision
    raise ConcurrentUpdateError(f"dispatch {dispatch_id} changed {attempts} times while deciding")


async def _resolver(svc: Services, state: DispatchState | None) -> Resolver | None:
    """Who the levels of a running dispatch page, from its practice as it is now."""
    if state is None or state.is_terminal or not state.plan.levels:
        return None
    return level_resolver(await svc.practices.get(state.practice_id), state.plan)


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
        refusals = [
            PendingEffect(f"refusal.{i}", e, stored.version, svc.clock.now())
            for i, e in enumerate(decision.effects)
            if isinstance(e, AuditEntry)
        ]
        if refusals:  # refused inputs are audited, though nothing changed (no outbox)
            await run_effects(svc, decision.state, refusals, stored.meta)
    if consumed_timer and consumed_timer not in _live_timers(decision.state):
        await svc.timers.remove([consumed_timer])  # (a moved deadline is still live)
    if stored.outbox:  # effects not done (a crash, a failure): run what nobody runs now
        await run_stored_effects(svc, dispatch_id, stored)


async def run_stored_effects(svc: Services, dispatch_id: str, stored: StoredDispatch) -> int:
    """Claim and run the stored effects nobody else is running; how many were claimed."""
    state = DispatchState.from_dict(stored.state)
    entries = pending(stored.outbox, stored.version, state.updated_at)
    now = svc.clock.now()
    until = now + timedelta(seconds=svc.effect_lease_s)
    mine = set(await svc.dispatches.claim_effects(dispatch_id, [e.id for e in entries], now, until))
    claimed = [e for e in entries if e.id in mine]
    await _run_and_complete(svc, state, claimed, stored.meta, stored.sent)
    return len(claimed)


async def _run_and_complete(
    svc: Services,
    state: DispatchState,
    entries: list[PendingEffect],
    meta: dict[str, Any],
    sent: dict[str, list[str]],
) -> None:
    """Run the effects; each one done is completed. Failed pages are reported (escalated)
    before their page effects complete, so a crash in between repeats the report, never
    loses it. Whatever fails here stays in the outbox for the effect scanner."""
    if not entries:
        return
    try:
        outcome = await run_effects(svc, state, entries, meta, sent)
        await _report_failed(svc, state.dispatch_id, outcome.failed)
        await svc.dispatches.complete_effects(state.dispatch_id, outcome.done)
    except Exception as exc:
        svc.metrics.effect_failures.labels("run").inc()
        log.warning(
            "dispatch %s: effects left to the scanner: %s",
            state.dispatch_id,
            describe_failure(exc),
        )
        await _retry_soon(svc, state.dispatch_id, entries)
        return
    left = [e for e in entries if e.id not in outcome.done and not _running(e, outcome)]
    if left:
        await _retry_soon(svc, state.dispatch_id, left)
    if outcome.late is not None:
        _finish_in_background(svc, state.dispatch_id, outcome.late)


def _running(entry: PendingEffect, outcome: EffectsOutcome) -> bool:
    """A page whose pushes go on in the background (it stays claimed until they end)."""
    return outcome.late is not None and isinstance(entry.effect, PagePerson)


async def _retry_soon(svc: Services, dispatch_id: str, entries: list[PendingEffect]) -> None:
    """A run failed: release its claims so the scanner retries after the back-off (from
    2 s, growing with how long the oldest has waited), not after the whole lease. Best
    effort: if Redis is what failed, the claims lapse by themselves."""
    now = svc.clock.now()
    waited = max(0.0, (now - min(e.at for e in entries)).total_seconds())
    try:
        await svc.dispatches.release_effects(dispatch_id, [e.id for e in entries])
        retry_at = now + timedelta(seconds=retry_delay_s(waited))
        await svc.dispatches.postpone_effects(dispatch_id, retry_at)
    except Exception as exc:
        log.warning("dispatch %s: claims kept until they lapse: %s", dispatch_id,
                    describe_failure(exc))  # fmt: skip


async def _report_failed(svc: Services, dispatch_id: str, failed: list[FailedPage]) -> None:
    for page in failed:
        await decide_and_apply(svc, dispatch_id, _pages_failed(page))


_BACKGROUND: set[asyncio.Task[None]] = set()  # strong references until they finish


def _finish_in_background(
    svc: Services, dispatch_id: str, late: asyncio.Task[PagesOutcome]
) -> None:
    """Escalate once slow pushes are done, if nobody was reached, then complete their
    page effects (claimed until then). If the worker dies first, the effect scanner runs
    the pages again for the devices not yet reached, and the page's receipt and ack
    timers still escalate: nothing waits forever."""

    async def finish() -> None:
        try:
            outcome = await late
            await _report_failed(svc, dispatch_id, outcome.failed)
            await svc.dispatches.complete_effects(dispatch_id, outcome.done)
        except Exception as exc:
            log.error(
                "dispatch %s: background pushes failed: %s", dispatch_id, describe_failure(exc)
            )

    task = asyncio.ensure_future(finish())
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def _pages_failed(failed: FailedPage) -> Decide:
    def decide(
        current: DispatchState | None, now: datetime, resolve: Resolver | None
    ) -> Decision | None:
        if current is None:
            return None
        return on_pages_failed(
            current, failed.step, failed.clinicians, now, page=failed.page, resolve=resolve
        )

    return decide


def _live_timers(state: DispatchState) -> set[str]:
    """The index members of the latest page's pending timers."""
    live = set()
    if state.ack_due_at is not None:
        live.add(timer_member("ack", state.dispatch_id, state.step, state.page))
    if state.receipt_due_at is not None:
        live.add(timer_member("receipt", state.dispatch_id, state.step, state.page))
    return live


def _split(
    dispatch_id: str, decision: Decision
) -> tuple[dict[str, datetime], list[str], list[Any]]:
    """Timer changes (committed with the state) apart from the effects for the outbox."""
    adds: dict[str, datetime] = {}
    removes: list[str] = []
    outbox: list[Any] = []
    for effect in decision.effects:
        if isinstance(effect, ScheduleTimer):
            adds[timer_member(effect.kind, dispatch_id, effect.step, effect.page)] = effect.due_at
        elif isinstance(effect, CancelTimer):
            removes.append(timer_member(effect.kind, dispatch_id, effect.step, effect.page))
        else:
            outbox.append(effect)
    return adds, [m for m in removes if m not in adds], outbox


_KNOWN_REASONS = (
    "stale",
    "duplicate",
    "illegal",
    "not paged",
    "not a current target",
    "only the accepter",
    "already declined",
    "another desk",
    "not at the desk",
    "not a desk action",
)


def _reason_label(rejected: str) -> str:
    """A bounded metric label from a rejection text."""
    lowered = rejected.lower()
    for known in _KNOWN_REASONS:
        if known in lowered:
            return known.replace(" ", "_")
    return "other"
