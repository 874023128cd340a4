"""Acknowledgements from the app and the desk, and dispatch commands (timer firings,
cancels)."""

from __future__ import annotations

from datetime import datetime

from engine.domain.dispatch import AckKind as DomainAckKind
from engine.domain.dispatch import (
    Actor,
    Decision,
    DispatchState,
    Resolver,
    on_ack,
    on_ack_timeout,
    on_cancel,
    on_receipt_timeout,
)
from engine.handlers.dispatching import decide_and_apply
from engine.handlers.office import release_held
from engine.handlers.services import Services
from engine.handlers.timers import timer_member
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


def _actor(ack: Acknowledgement) -> Actor:
    if ack.operator_id is not None:
        return Actor(ack.operator_id, ack.desk_id)
    return Actor(ack.clinician_id or "")


async def handle_ack(svc: Services, ack: Acknowledgement) -> Decision | None:
    actor = _actor(ack)

    def decide(
        state: DispatchState | None, now: datetime, resolve: Resolver | None
    ) -> Decision | None:
        if state is None:
            return None
        kind = _DOMAIN_KINDS[ack.kind]
        return on_ack(state, kind, actor, str(ack.event_id), now, page=ack.page, resolve=resolve)

    decision = await decide_and_apply(svc, ack.dispatch_id, decide)
    if ack.device_id and ack.clinician_id and svc.device_registry is not None:
        await svc.device_registry.touch(ack.clinician_id, ack.device_id, ack.at)  # last seen
    return decision


async def handle_command(svc: Services, command: DispatchCommand) -> object:
    if isinstance(command, FireAckTimer | FireReceiptTimer):
        return await _fire_timer(svc, command)
    if isinstance(command, ReleaseHeldMessage):
        return await release_held(svc, command)
    if isinstance(command, CancelDispatch):

        def cancel(
            state: DispatchState | None, now: datetime, resolve: Resolver | None
        ) -> Decision | None:
            return None if state is None else on_cancel(state, command.actor, now)

        return await decide_and_apply(svc, command.dispatch_id, cancel)
    raise TypeError(f"unhandled command {type(command).__name__}")


async def _fire_timer(svc: Services, command: FireAckTimer | FireReceiptTimer) -> Decision | None:
    """A deadline of ``command.page`` passed: decide, drop the timer, record lateness."""
    receipt = isinstance(command, FireReceiptTimer)
    kind = "receipt" if receipt else "ack"
    member = timer_member(kind, command.dispatch_id, command.step, command.page)

    def decide(
        state: DispatchState | None, now: datetime, resolve: Resolver | None
    ) -> Decision | None:
        if state is None:
            return None
        if receipt:
            return on_receipt_timeout(state, command.step, now, page=command.page, resolve=resolve)
        return on_ack_timeout(
            state, command.step, now, page=command.page, due_at=command.due_at, resolve=resolve
        )

    decision = await decide_and_apply(svc, command.dispatch_id, decide, consumed_timer=member)
    if decision is None:
        await svc.timers.remove([member])
    elif not decision.rejected:
        lateness = (svc.clock.now() - command.due_at).total_seconds()
        svc.metrics.timer_lateness.labels(kind).observe(max(0.0, lateness))
    return decision
