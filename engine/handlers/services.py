"""The bundle of adapters every handler receives (built once by a bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.metrics import Metrics
from engine.ports import (
    AuditSink,
    Clock,
    ContentVault,
    DeviceDirectory,
    DeviceRegistry,
    DispatchStore,
    EventPublisher,
    HeldStore,
    PracticeDirectory,
    PushGateway,
    TimerIndex,
)

__all__ = ["Services"]


@dataclass
class Services:
    clock: Clock
    practices: PracticeDirectory
    devices: DeviceDirectory
    push: PushGateway
    dispatches: DispatchStore
    held: HeldStore
    timers: TimerIndex
    publisher: EventPublisher
    audit: AuditSink
    metrics: Metrics
    dedupe_ttl_s: int = 7 * 24 * 3600
    timer_lease_s: float = 10.0
    effect_lease_s: float = 30.0  # a runner owns an effect this long; then it is retried
    receipt_timeout_s: float | None = None  # no device receipt by then: next level
    vault: ContentVault | None = None  # message content for end-to-end encrypted pushes
    device_registry: DeviceRegistry | None = None  # changes from the ``devices`` topic
    push_wait_s: float | None = None  # then slow pushes finish in the background
    desk_timeout_s: float = 60.0  # the desk claims an alert in this time, or is re-alerted
    default_desk: str = "operator-desk"  # for intake that names no practice we serve
