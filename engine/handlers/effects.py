"""Carry out a dispatch decision's effects: pages (:mod:`engine.handlers.pages`),
operator-desk alerts, live-transfer instructions, state events and audit entries.

Each effect is done on its own (:class:`EffectsOutcome` names those done); one that
fails stays in the outbox and the effect scanner retries it. Events are published
together, without waiting for each broker acknowledgement in turn, and every event id
is derived from its effect's id, so a re-run publishes the same ids. The outcome also
carries the pages that reached nobody (the caller escalates them) and pushes still
running in the background.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from engine.domain.dispatch import (
    AuditEntry,
    DispatchState,
    NotifyOperatorDesk,
    PagePerson,
    StateChanged,
    TransferCall,
)
from engine.failures import describe_failure
from engine.handlers.outbox import PendingEffect
from engine.handlers.pages import FailedPage, PagesOutcome, page_or_leave
from engine.handlers.services import Services
from engine.schemas._base import derived_event_id
from engine.schemas.audit import AuditEvent
from engine.schemas.dispatch import DispatchStateChanged
from engine.schemas.outbound import LiveTransferInstruction, OperatorAlert

__all__ = ["EffectsOutcome", "run_effects"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EffectsOutcome:
    """Effects done now, pages that reached somebody not at all, pushes still running."""

    done: list[str] = field(default_factory=list)
    failed: list[FailedPage] = field(default_factory=list)
    late: asyncio.Task[PagesOutcome] | None = None


async def run_effects(
    svc: Services,
    state: DispatchState,
    entries: list[PendingEffect],
    meta: dict[str, Any],
    sent: dict[str, list[str]] | None = None,
) -> EffectsOutcome:
    done: list[str] = []
    transfers = [e for e in entries if isinstance(e.effect, TransferCall)]
    if transfers:  # the waiting caller's patch first: it is on the line now
        done += await _publish_all(svc, [(e.id, _transfer(svc, state, e)) for e in transfers])
    pages = [e for e in entries if isinstance(e.effect, PagePerson)]
    outcome = await page_or_leave(svc, state, pages, meta, sent or {}) if pages else None
    events = [(e.id, _event(svc, state, e, meta)) for e in entries if _is_event(e)]
    done += await _publish_all(svc, [(i, c) for i, c in events if c is not None])
    done += [i for i, c in events if c is None]
    if outcome is None:
        return EffectsOutcome(done)
    if isinstance(outcome, asyncio.Task):
        return EffectsOutcome(done, late=outcome)
    return EffectsOutcome(done + outcome.done, outcome.failed)


def _is_event(entry: PendingEffect) -> bool:
    return isinstance(entry.effect, NotifyOperatorDesk | StateChanged | AuditEntry)


def _event(
    svc: Services, state: DispatchState, entry: PendingEffect, meta: dict[str, Any]
) -> Awaitable[None] | None:
    effect = entry.effect
    if isinstance(effect, NotifyOperatorDesk):
        return _alert_operator(svc, state, entry, meta)
    if isinstance(effect, StateChanged):
        return _publish_state(svc, state, entry, meta)
    if isinstance(effect, AuditEntry):
        return svc.audit.record(
            AuditEvent(
                event_id=_audit_event_id(state, entry),
                at=entry.at,
                practice_id=state.practice_id,
                subject_type="dispatch",
                subject_id=state.dispatch_id,
                actor=effect.actor,
                action=effect.action,
                from_status=effect.from_status,
                to_status=effect.to_status,
                step=effect.step,
                detail=effect.detail,
            )
        )
    return None


async def _publish_all(svc: Services, calls: list[tuple[str, Awaitable[None]]]) -> list[str]:
    """Publish together (the producer batches them); the ids of those the broker took.
    A failed one is logged and left to the effect scanner."""
    results = await asyncio.gather(*(call for _, call in calls), return_exceptions=True)
    done = []
    for (effect_id, _), result in zip(calls, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # cancelled: the worker is stopping; the outbox keeps the rest
        if isinstance(result, Exception):
            svc.metrics.effect_failures.labels("publish").inc()
            log.warning("effect %s: publish failed: %s", effect_id, describe_failure(result))
        else:
            done.append(effect_id)
    return done


async def _transfer(svc: Services, state: DispatchState, entry: PendingEffect) -> None:
    effect = entry.effect
    await svc.publisher.publish(
        "telephony.transfers",
        effect.call_id,
        LiveTransferInstruction(
            event_id=_event_id("lt", state, entry),
            call_id=effect.call_id,
            practice_id=state.practice_id,
            dispatch_id=state.dispatch_id,
            clinician_id=effect.clinician_id,
            urgency=state.urgency,
            at=state.created_at,
        ),
    )


async def _alert_operator(
    svc: Services, state: DispatchState, entry: PendingEffect, meta: dict[str, Any]
) -> None:
    effect = entry.effect
    if effect.alert == 1:
        svc.metrics.operator_fallbacks.labels(_reason_code(effect.reason)).inc()
    source = meta.get("source", {})
    intake_id = meta.get("intake_event_id")
    await svc.publisher.publish(
        "operator.alerts",
        state.practice_id,
        OperatorAlert(
            event_id=_event_id("op", state, entry),
            dispatch_id=state.dispatch_id,
            practice_id=state.practice_id,
            desk_id=effect.desk_id,
            urgency=state.urgency,
            reason=effect.reason,
            alert=effect.alert,
            page=effect.page or None,
            intake_event_id=uuid.UUID(intake_id) if intake_id else None,
            related_dispatch_id=meta.get("related_dispatch_id"),
            reason_code=source.get("reason_code"),
            source_topic=source.get("topic"),
            source_partition=source.get("partition"),
            source_offset=source.get("offset"),
            at=entry.at,
        ),
    )


async def _publish_state(
    svc: Services, state: DispatchState, entry: PendingEffect, meta: dict[str, Any]
) -> None:
    effect = entry.effect
    log.debug(  # at 1,000 dispatches/s an INFO line per change costs more than the change
        "dispatch %s: %s -> %s on %s at step %d (%s)",
        state.dispatch_id,
        _opt(effect.from_status),
        effect.to_status,
        effect.trigger,
        effect.step,
        state.plan.step(effect.step).level_name,
    )
    if str(effect.to_status) == "accepted":
        waited = (entry.at - state.created_at).total_seconds()
        svc.metrics.time_to_accept.labels(str(state.urgency)).observe(max(0.0, waited))
    await svc.publisher.publish(
        "dispatch.state",
        state.dispatch_id,
        DispatchStateChanged(
            event_id=_event_id("st", state, entry),
            dispatch_id=state.dispatch_id,
            practice_id=state.practice_id,
            intake_event_id=uuid.UUID(meta.get("intake_event_id", str(uuid.UUID(int=0)))),
            urgency=state.urgency,
            from_status=_opt(effect.from_status),
            to_status=str(effect.to_status),
            trigger=str(effect.trigger),
            step=effect.step,
            level_name=state.plan.step(effect.step).level_name,
            version=entry.version,
            at=entry.at,
        ),
    )


def _event_id(kind: str, state: DispatchState, entry: PendingEffect) -> uuid.UUID:
    """Derived from the effect's id: a re-run publishes the same id, which consumers drop."""
    return derived_event_id(kind, state.dispatch_id, entry.id)


def _audit_event_id(state: DispatchState, entry: PendingEffect) -> uuid.UUID:
    """Derived from the effect; a refused input changed no version and has no outbox
    entry, so its audit entry gets its own id."""
    if entry.effect.action.endswith("_refused"):
        return uuid.uuid4()
    return _event_id("au", state, entry)


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def _reason_code(reason: str) -> str:
    """Operator reasons are fixed phrases in the domain; fold them to a label."""
    return reason.lower().replace(" ", "_")[:40]
