"""Event contracts: pydantic models for every topic, the topic catalogue, the codec
and the JSON Schema export."""

from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.audit import AuditEvent
from engine.schemas.codec import DecodeError, decode, encode
from engine.schemas.deadletter import DeadLetter
from engine.schemas.dispatch import (
    CancelDispatch,
    DispatchCommand,
    DispatchStateChanged,
    FireAckTimer,
    ReleaseHeldMessage,
)
from engine.schemas.intake import (
    CallerType,
    CallReason,
    IntakeEvent,
    IntakeKind,
    Urgency,
    VoiceCall,
)
from engine.schemas.outbound import (
    HeldForOffice,
    LiveTransferInstruction,
    OperatorAlert,
    ReleasedToOffice,
)

__all__ = [
    "AckKind",
    "Acknowledgement",
    "AuditEvent",
    "CallReason",
    "CallerType",
    "CancelDispatch",
    "DeadLetter",
    "DecodeError",
    "DispatchCommand",
    "DispatchStateChanged",
    "FireAckTimer",
    "HeldForOffice",
    "IntakeEvent",
    "IntakeKind",
    "LiveTransferInstruction",
    "OperatorAlert",
    "ReleaseHeldMessage",
    "ReleasedToOffice",
    "Urgency",
    "VoiceCall",
    "decode",
    "encode",
]
