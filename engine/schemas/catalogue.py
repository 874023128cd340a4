"""The topic catalogue: every Kafka topic Nightline reads or writes, in one place.

Names are relative; the deployment prefix is added by ``Settings.topic``
(``nightline.intake`` by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from engine.schemas.acks import Acknowledgement
from engine.schemas.audit import AuditEvent
from engine.schemas.deadletter import DeadLetter
from engine.schemas.devices import DeviceRegistration
from engine.schemas.dispatch import DispatchCommand, DispatchStateChanged
from engine.schemas.intake import IntakeEvent
from engine.schemas.outbound import (
    HeldForOffice,
    LiveTransferInstruction,
    OperatorAlert,
    ReleasedToOffice,
)
from engine.schemas.practices import PracticeDefinitionChanged

__all__ = ["CATALOGUE", "TopicSpec", "spec"]

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its name, what keys it, what it holds and how long it is kept."""

    name: str
    key: str
    models: tuple[Any, ...]
    description: str
    partitions: int | None = None  # None: the deployment's default
    retention_ms: int = 14 * DAY_MS
    compacted: bool = False

    @property
    def adapter(self) -> TypeAdapter[Any]:
        return _adapter(self.name)

    def configs(self) -> dict[str, str]:
        if self.compacted:
            return {"cleanup.policy": "compact"}
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


CATALOGUE: tuple[TopicSpec, ...] = (
    TopicSpec(
        "intake",
        "practice_id",
        (IntakeEvent,),
        "Calls and messages from telephony, chat, SMS, e-mail and web forms.",
    ),
    TopicSpec(
        "dispatch.commands",
        "dispatch_id (held_id for releases)",
        (DispatchCommand,),
        "Timer firings and operator commands for dispatches.",
    ),
    TopicSpec(
        "dispatch.state",
        "dispatch_id",
        (DispatchStateChanged,),
        "Every dispatch status change.",
        retention_ms=30 * DAY_MS,
    ),
    TopicSpec(
        "acks", "dispatch_id", (Acknowledgement,), "Receipts and actions from the clinician app."
    ),
    TopicSpec(
        "devices",
        "clinician_id",
        (DeviceRegistration,),
        "Device registrations, token rotations and removals from the mobile API.",
    ),
    TopicSpec(
        "telephony.transfers",
        "call_id",
        (LiveTransferInstruction,),
        "Live-transfer (patch) instructions back to telephony.",
    ),
    TopicSpec(
        "office.held",
        "practice_id",
        (HeldForOffice, ReleasedToOffice),
        "Routine messages held for the office, and their release.",
    ),
    TopicSpec(
        "operator.alerts",
        "practice_id",
        (OperatorAlert,),
        "Dispatches the operator desk must handle.",
    ),
    TopicSpec(
        "audit",
        "subject_id",
        (AuditEvent,),
        "Timeline of every state change; kept six years (HIPAA 164.316).",
        retention_ms=6 * 366 * DAY_MS,
    ),
    TopicSpec(
        "deadletter",
        "source topic",
        (DeadLetter,),
        "Rejected input with the reason; raw bytes encrypted.",
        retention_ms=30 * DAY_MS,
    ),
    TopicSpec(
        "practices",
        "practice_id",
        (PracticeDefinitionChanged,),
        "Every practice definition at its latest revision (compacted; workers cache it).",
        compacted=True,
    ),
)

_BY_NAME = {t.name: t for t in CATALOGUE}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def spec(name: str) -> TopicSpec:
    """The catalogue entry of a topic, by relative name."""
    return _BY_NAME[name]


def _adapter(name: str) -> TypeAdapter[Any]:
    if name not in _ADAPTERS:
        models = _BY_NAME[name].models
        union: Any = models[0]
        for model in models[1:]:
            union = union | model
        _ADAPTERS[name] = TypeAdapter(union)
    return _ADAPTERS[name]
