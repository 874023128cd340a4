"""Acknowledgements from the app and dispatch commands (timer firings, cancels)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from engine.domain.dispatch import AckKind as DomainAckKind
from engine.domain.dispatch import (
    Decision,
    DispatchState,
    on_ack,
    on_ack_timeout,
    on_cancel,
    on_receipt_timeout,
)
from engine.handlers.dispatching import decide_and_apply
from engine.handlers.office import release_held
from engine.handlers.services import Services
from engine.handlers.timers import ack_timer_member, receipt_timer_member
from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.dispatch import (
    CancelDispatch,
    DispatchCommand,
    FireAckTimer,
    FireReceiptTimer,
    ReleaseHeldMessage,
)

__all__ = ["handle_ack", "handle_command"]


_DOMAIN_KINDS: dict[AckKind, DomainAckKind] = {
    AckKind.RECEIVED: "received",
    AckKind.DISPLAYED: "received",  # shown on the device: a receipt like received
    AckKind.READ: "read",
    AckKind.ACCEPTED: "accepted",
    AckKind.DECLINED: "declined",
    AckKind.CALLBACK_COMPLETED: "callback_completed",
}


async def handle_ack(svc: Services, ack: Acknowledgement) -> Decision | None:
    def decide(state: DispatchState | None, now: datetime) -> Decision | None:
        if state is None:
            return None
        kind = _DOMAIN_KINDS[ack.kind]
        return on_ack(state, kind, ack.clinician_id, str(ack.event_id), now)

    decision = await decide_and_apply(svc, ack.dispatch_id, decide)
    if ack.device_id and svc.device_registry is not None:  # the app is alive: last seen
        await svc.device_registry.touch(ack.clinician_id, ack.device_id, ack.at)
    return decision


async def handle_command(svc: Services, command: DispatchCommand) -> object:
    if isinstance(command, FireAckTimer):
        return await _fire(svc, command)
    if isinstance(command, FireReceiptTimer):
        return await _fire_receipt(svc, command)
    if isinstance(command, ReleaseHeldMessage):
        return await release_held(svc, command)
    if isinstance(command, CancelDispatch):

        def cancel(state: DispatchState | None, now: datetime) -> Decision | None:
            return None if state is None else on_cancel(state, command.actor, now)

        return await decide_and_apply(svc, command.dispatch_id, cancel)
    raise TypeError(f"unhandled command {type(command).__name__}")


async def _fire(svc: Services, command: FireAckTimer) -> Decision | None:
    member = ack_timer_member(command.dispatch_id, command.step)
    return await _fire_timer(svc, command, member, on_ack_timeout, "ack")


async def _fire_receipt(svc: Services, command: FireReceiptTimer) -> Decision | None:
    member = receipt_timer_member(command.dispatch_id, command.step)
    return await _fire_timer(svc, command, member, on_receipt_timeout, "receipt")


async def _fire_timer(
    svc: Services,
    command: FireAckTimer | FireReceiptTimer,
    member: str,
    on_timeout: Callable[[DispatchState, int, datetime], Decision],
    kind: str,
) -> Decision | None:
    """A deadline of ``command.step`` passed: decide, drop the timer, record lateness."""

    def decide(state: DispatchState | None, now: datetime) -> Decision | None:
        return None if state is None else on_timeout(state, command.step, now)

    decision = await decide_and_apply(svc, command.dispatch_id, decide, consumed_timer=member)
    if decision is None:
        await svc.timers.remove([member])
    elif not decision.rejected:
        lateness = (svc.clock.now() - command.due_at).total_seconds()
        svc.metrics.timer_lateness.labels(kind).observe(max(0.0, lateness))
    return decision
