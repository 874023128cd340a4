"""Carry out a dispatch decision's effects: pages through the push gateway,
operator-desk alerts, state events and audit entries.

Returns the steps at which nobody could be paged (no active device, or every
push failed), so the caller can escalate at once instead of waiting.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
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
from engine.ports import PushRequest
from engine.schemas.audit import AuditEvent
from engine.schemas.dispatch import DispatchStateChanged
from engine.schemas.outbound import OperatorAlert

__all__ = ["alert_text", "run_effects"]

log = logging.getLogger(__name__)


def alert_text(urgency: str) -> str:
    """The only words a push envelope may carry: no PHI."""
    return {
        "emergency": "EMERGENCY message - open Nightline now",
        "urgent": "Urgent message - open to view",
    }.get(urgency, "New message - open to view")


async def run_effects(
    svc: Services, state: DispatchState, effects: list[Any], meta: dict[str, Any]
) -> list[int]:
    pages = [e for e in effects if isinstance(e, PagePerson)]
    unreachable = await _page(svc, state, pages, meta) if pages else []
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
    return unreachable


async def _page(
    svc: Services, state: DispatchState, pages: list[PagePerson], meta: dict[str, Any]
) -> list[int]:
    devices = await svc.devices.devices_for(sorted({p.clinician_id for p in pages}))
    delivered: dict[int, int] = defaultdict(int)
    for page in pages:
        delivered.setdefault(page.step, 0)
        for device in devices.get(page.clinician_id, []):
            result = await svc.push.send(
                PushRequest(
                    dispatch_id=state.dispatch_id,
                    device=device,
                    urgency=str(state.urgency),
                    step=page.step,
                    attempt=page.attempt,
                    alert_text=alert_text(str(state.urgency)),
                )
            )
            svc.metrics.pushes.labels(device.platform, "ok" if result.ok else "failed").inc()
            delivered[page.step] += int(result.ok)
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


async def _alert_operator(svc: Services, state: DispatchState, effect: NotifyOperatorDesk) -> None:
    svc.metrics.operator_fallbacks.labels(_reason_code(effect.reason)).inc()
    await svc.publisher.publish(
        "operator.alerts",
        state.practice_id,
        OperatorAlert(
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"op:{state.dispatch_id}:{state.version}"),
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
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"st:{state.dispatch_id}:{state.version}"),
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
