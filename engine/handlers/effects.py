"""Carry out a dispatch decision's effects: pages through the push gateway,
operator-desk alerts, live-transfer instructions, state events and audit entries.

Returns, per page, the clinicians no push reached (no active device, or every push
failed), so the caller can record them and escalate at once instead of waiting. Pushes
that are still running after ``Services.push_wait_s`` (a slow provider) are left to
finish in the background: the outcome then carries that task, so the agent can take its
next event while the caller reports from the task.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.domain.dispatch import (
    AuditEntry,
    DispatchState,
    NotifyOperatorDesk,
    PagePerson,
    StateChanged,
    TransferCall,
)
from engine.handlers.services import Services
from engine.ports import Device, PushRequest, PushResult
from engine.push.payload import alert_text_for
from engine.schemas._base import derived_event_id
from engine.schemas.audit import AuditEvent
from engine.schemas.dispatch import DispatchStateChanged
from engine.schemas.outbound import LiveTransferInstruction, OperatorAlert

__all__ = ["EffectsOutcome", "FailedPage", "run_effects"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedPage:
    """Nobody of ``clinicians`` was reached by any push of page ``page`` (at ``step``)."""

    step: int
    page: int
    clinicians: tuple[str, ...]


@dataclass(frozen=True)
class EffectsOutcome:
    """Pages that reached somebody not at all, and pushes still running (if any)."""

    failed: list[FailedPage] = field(default_factory=list)
    late: asyncio.Task[list[FailedPage]] | None = None


async def run_effects(
    svc: Services, state: DispatchState, effects: list[Any], meta: dict[str, Any]
) -> EffectsOutcome:
    for effect in effects:  # the waiting caller's patch first: it is on the line now
        if isinstance(effect, TransferCall):
            await _transfer(svc, state, effect)
    pages = [e for e in effects if isinstance(e, PagePerson)]
    outcome = await _page(svc, state, pages, meta) if pages else EffectsOutcome()
    for effect in effects:
        if isinstance(effect, NotifyOperatorDesk):
            await _alert_operator(svc, state, effect, meta)
        elif isinstance(effect, StateChanged):
            await _publish_state(svc, state, effect, meta)
        elif isinstance(effect, AuditEntry):
            await svc.audit.record(
                AuditEvent(
                    event_id=_audit_event_id(state, effect),
                    at=state.updated_at,
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
    return outcome


async def _page(
    svc: Services, state: DispatchState, pages: list[PagePerson], meta: dict[str, Any]
) -> EffectsOutcome:
    """Send the pages; wait up to ``push_wait_s`` for them, then let them finish alone."""
    sending = asyncio.ensure_future(_send_pages(svc, state, pages, meta))
    done, _ = await asyncio.wait({sending}, timeout=svc.push_wait_s)
    if sending in done:
        return EffectsOutcome(sending.result())
    log.warning(
        "dispatch %s: pushes still running after %.1f s; finishing in the background",
        state.dispatch_id,
        svc.push_wait_s or 0.0,
    )
    return EffectsOutcome(late=sending)


async def _send_pages(
    svc: Services, state: DispatchState, pages: list[PagePerson], meta: dict[str, Any]
) -> list[FailedPage]:
    """Push every device of every paged clinician at once; who was reached, per page."""
    devices = await svc.devices.devices_for(sorted({p.clinician_id for p in pages}))
    sends = [
        (page, device, _request(state, page, device))
        for page in pages
        for device in devices.get(page.clinician_id, [])
    ]
    results = await asyncio.gather(
        *(svc.push.send(request) for _, _, request in sends), return_exceptions=True
    )
    reached: set[tuple[int, str]] = set()
    for (page, device, _), result in zip(sends, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # cancelled: the worker is stopping; the outbox keeps the page
        if isinstance(result, Exception):  # a gateway bug must not stop the escalation
            log.error("push to device %s failed: %s", device.device_id, type(result).__name__)
            result = PushResult(ok=False, detail=type(result).__name__)
        svc.metrics.pushes.labels(device.platform, "ok" if result.ok else "failed").inc()
        if result.ok:
            reached.add((page.page, page.clinician_id))
    return _failed_pages(svc, state, pages, reached, meta)


def _failed_pages(
    svc: Services,
    state: DispatchState,
    pages: list[PagePerson],
    reached: set[tuple[int, str]],
    meta: dict[str, Any],
) -> list[FailedPage]:
    missed: dict[tuple[int, int], list[str]] = defaultdict(list)
    steps: dict[int, int] = {}
    for page in pages:
        steps[page.page] = page.step
        if (page.page, page.clinician_id) not in reached:
            missed[(page.step, page.page)].append(page.clinician_id)
    for number, step in steps.items():
        if not any(n == number for n, _ in reached):
            continue
        plan_step = state.plan.step(step)
        if step > 0 and not plan_step.is_operator:
            svc.metrics.escalations.labels(plan_step.level_name).inc()
        if step == 0 and "received_at" in meta:
            received = datetime.fromisoformat(meta["received_at"])
            latency = (svc.clock.now() - received).total_seconds()
            svc.metrics.call_to_push.labels(str(state.urgency)).observe(max(0.0, latency))
    if missed:
        log.warning("dispatch %s: nobody reachable at pages %s", state.dispatch_id,
                    sorted(page for _, page in missed))  # fmt: skip
    return [FailedPage(step, page, tuple(who)) for (step, page), who in sorted(missed.items())]


def _request(state: DispatchState, page: PagePerson, device: Device) -> PushRequest:
    return PushRequest(
        dispatch_id=state.dispatch_id,
        device=device,
        urgency=str(state.urgency),
        step=page.step,
        attempt=page.attempt,
        alert_text=alert_text_for(str(state.urgency)),
        page=page.page,
    )


async def _transfer(svc: Services, state: DispatchState, effect: TransferCall) -> None:
    await svc.publisher.publish(
        "telephony.transfers",
        effect.call_id,
        LiveTransferInstruction(
            event_id=derived_event_id("lt", state.dispatch_id),
            call_id=effect.call_id,
            practice_id=state.practice_id,
            dispatch_id=state.dispatch_id,
            clinician_id=effect.clinician_id,
            urgency=state.urgency,
            at=state.created_at,
        ),
    )


async def _alert_operator(
    svc: Services, state: DispatchState, effect: NotifyOperatorDesk, meta: dict[str, Any]
) -> None:
    if effect.alert == 1:
        svc.metrics.operator_fallbacks.labels(_reason_code(effect.reason)).inc()
    source = meta.get("source", {})
    intake_id = meta.get("intake_event_id")
    await svc.publisher.publish(
        "operator.alerts",
        state.practice_id,
        OperatorAlert(
            event_id=derived_event_id("op", state.dispatch_id, effect.page or state.version),
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
            at=state.updated_at,
        ),
    )


async def _publish_state(
    svc: Services, state: DispatchState, effect: StateChanged, meta: dict[str, Any]
) -> None:
    log.info(
        "dispatch %s: %s -> %s on %s at step %d (%s)",
        state.dispatch_id,
        _opt(effect.from_status),
        effect.to_status,
        effect.trigger,
        effect.step,
        state.plan.step(effect.step).level_name,
    )
    if str(effect.to_status) == "accepted":
        waited = (state.updated_at - state.created_at).total_seconds()
        svc.metrics.time_to_accept.labels(str(state.urgency)).observe(max(0.0, waited))
    await svc.publisher.publish(
        "dispatch.state",
        state.dispatch_id,
        DispatchStateChanged(
            event_id=derived_event_id("st", state.dispatch_id, state.version),
            dispatch_id=state.dispatch_id,
            practice_id=state.practice_id,
            intake_event_id=uuid.UUID(meta.get("intake_event_id", str(uuid.UUID(int=0)))),
            urgency=state.urgency,
            from_status=_opt(effect.from_status),
            to_status=str(effect.to_status),
            trigger=str(effect.trigger),
            step=effect.step,
            level_name=state.plan.step(effect.step).level_name,
            version=state.version,
            at=state.updated_at,
        ),
    )


def _audit_event_id(state: DispatchState, entry: AuditEntry) -> uuid.UUID:
    """A change's entry is derived from the version it made (a re-run duplicates it with
    the same id); a refused input changed no version, so its entry gets its own id."""
    if entry.action.endswith("_refused"):
        return uuid.uuid4()
    return derived_event_id("au", state.dispatch_id, state.version, entry.action)


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def _reason_code(reason: str) -> str:
    """Operator reasons are fixed phrases in the domain; fold them to a label."""
    return reason.lower().replace(" ", "_")[:40]
