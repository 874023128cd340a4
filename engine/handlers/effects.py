"""Carry out a dispatch decision's effects: pages through the push gateway,
operator-desk alerts, state events and audit entries.

Returns the steps at which nobody could be paged (no active device, or every
push failed), so the caller can escalate at once instead of waiting. Pushes that
are still running after ``Services.push_wait_s`` (a slow provider) are left to
finish in the background: the outcome then carries that task, so the agent can
take its next event while the caller escalates from the task if nobody was reached.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.domain.dispatch import (
    AuditEntry,
    DispatchState,
    NotifyOperatorDesk,
    PagePerson,
    StateChanged,
)
from engine.handlers.services import Services
from engine.ports import Device, PushRequest, PushResult
from engine.push.payload import alert_text_for
from engine.schemas._base import derived_event_id
from engine.schemas.audit import AuditEvent
from engine.schemas.dispatch import DispatchStateChanged
from engine.schemas.outbound import OperatorAlert

__all__ = ["EffectsOutcome", "run_effects"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EffectsOutcome:
    """Steps nobody could be paged at, and pushes still running (if any)."""

    unreachable: list[int] = field(default_factory=list)
    late: asyncio.Task[list[int]] | None = None


async def run_effects(
    svc: Services, state: DispatchState, effects: list[Any], meta: dict[str, Any]
) -> EffectsOutcome:
    pages = [e for e in effects if isinstance(e, PagePerson)]
    outcome = await _page(svc, state, pages, meta) if pages else EffectsOutcome()
    for effect in effects:
        if isinstance(effect, NotifyOperatorDesk):
            await _alert_operator(svc, state, effect)
        elif isinstance(effect, StateChanged):
            await _publish_state(svc, state, effect, meta)
        elif isinstance(effect, AuditEntry):
            await svc.audit.record(
                AuditEvent(
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
) -> list[int]:
    """Push every device of every paged clinician at once; count deliveries per step."""
    devices = await svc.devices.devices_for(sorted({p.clinician_id for p in pages}))
    sends = [
        (page.step, device, _request(state, page, device))
        for page in pages
        for device in devices.get(page.clinician_id, [])
    ]
    results = await asyncio.gather(
        *(svc.push.send(request) for _, _, request in sends), return_exceptions=True
    )
    delivered: dict[int, int] = {page.step: 0 for page in pages}
    for (step, device, _), result in zip(sends, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # cancelled: the worker is stopping; the outbox keeps the page
        if isinstance(result, Exception):  # a gateway bug must not stop the escalation
            log.error("push to device %s failed: %s", device.device_id, type(result).__name__)
            result = PushResult(ok=False, detail=type(result).__name__)
        svc.metrics.pushes.labels(device.platform, "ok" if result.ok else "failed").inc()
        delivered[step] += int(result.ok)
    for step in sorted(delivered):
        plan_step = state.plan.step(step)
        if step > 0:
            svc.metrics.escalations.labels(plan_step.level_name).inc()
        if step == 0 and delivered[step] and "received_at" in meta:
            received = datetime.fromisoformat(meta["received_at"])
            latency = (svc.clock.now() - received).total_seconds()
            svc.metrics.call_to_push.labels(str(state.urgency)).observe(max(0.0, latency))
    unreachable = [step for step, count in delivered.items() if count == 0]
    if unreachable:
        log.warning("dispatch %s: nobody reachable at steps %s", state.dispatch_id, unreachable)
    return unreachable


def _request(state: DispatchState, page: PagePerson, device: Device) -> PushRequest:
    return PushRequest(
        dispatch_id=state.dispatch_id,
        device=device,
        urgency=str(state.urgency),
        step=page.step,
        attempt=page.attempt,
        alert_text=alert_text_for(str(state.urgency)),
    )


async def _alert_operator(svc: Services, state: DispatchState, effect: NotifyOperatorDesk) -> None:
    svc.metrics.operator_fallbacks.labels(_reason_code(effect.reason)).inc()
    await svc.publisher.publish(
        "operator.alerts",
        state.practice_id,
        OperatorAlert(
            event_id=derived_event_id("op", state.dispatch_id, state.version),
            dispatch_id=state.dispatch_id,
            practice_id=state.practice_id,
            desk_id=effect.desk_id,
            urgency=state.urgency,
            reason=effect.reason,
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


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def _reason_code(reason: str) -> str:
    """Operator reasons are fixed phrases in the domain; fold them to a label."""
    return reason.lower().replace(" ", "_")[:40]
