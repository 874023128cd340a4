"""The small Protocols behind which every outside system sits.

Handlers depend on these, never on Redis, Kafka or a push provider directly;
``engine.fakes`` has one in-memory fake of each for tests, and
``engine.adapters`` the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from engine.domain.practice import Practice
from engine.push.content import PushContent

__all__ = [
    "AuditSink",
    "Clock",
    "ContentVault",
    "Device",
    "DeviceDirectory",
    "DeviceOwnedElsewhere",
    "DeviceRegistry",
    "DispatchStore",
    "DueTimer",
    "EventPublisher",
    "HeldStore",
    "PracticeDirectory",
    "PushGateway",
    "PushRequest",
    "PushResult",
    "StoredDispatch",
    "TimerIndex",
]


class Clock(Protocol):
    """Where handlers get ``now`` from (a fake clock in tests)."""

    def now(self) -> datetime: ...


@dataclass(frozen=True)
class Device:
    """A clinician's registered phone."""

    device_id: str
    clinician_id: str
    platform: str  # "ios" | "android"
    push_token: str
    active: bool = True
    public_key: str = ""  # base64url uncompressed P-256 point (RFC 8291 receiver key)
    auth_secret: str = ""  # base64url 16-byte RFC 8291 authentication secret
    app_version: str = ""
    critical_alerts: bool = False  # iOS critical-alert entitlement granted on the phone
    last_seen: str = ""  # ISO 8601 time the app last checked in


class DeviceOwnedElsewhere(Exception):
    """A change to a device id that another clinician owns; nothing was changed.

    A device belongs to the clinician who registered it until that clinician removes
    it, so one clinician's app cannot take over or retire another clinician's phone.
    """

    def __init__(self, clinician_id: str, device_id: str) -> None:
        super().__init__(f"device {device_id} does not belong to clinician {clinician_id}")
        self.clinician_id, self.device_id = clinician_id, device_id


@dataclass(frozen=True)
class PushRequest:
    """One push to one device. Carries no PHI: the app fetches or decrypts the details."""

    dispatch_id: str
    device: Device
    urgency: str
    step: int
    attempt: int
    alert_text: str
    page: int = 0  # the dispatch's page number, echoed by the app's acknowledgements


@dataclass(frozen=True)
class PushResult:
    ok: bool
    detail: str = ""
    device_gone: bool = False


class PushGateway(Protocol):
    async def send(self, request: PushRequest) -> PushResult: ...


class DeviceDirectory(Protocol):
    async def devices_for(self, clinician_ids: list[str]) -> dict[str, list[Device]]: ...


class DeviceRegistry(Protocol):
    """Changes to clinicians' devices (from the ``devices`` topic).

    ``register``, ``rotate_token`` and ``remove`` raise :class:`DeviceOwnedElsewhere`
    for a device id another clinician owns; ``remove`` frees the id.
    """

    async def register(self, device: Device) -> None: ...

    async def rotate_token(self, clinician_id: str, device_id: str, new_token: str) -> bool:
        """False when the clinician has no such device."""
        ...

    async def remove(self, clinician_id: str, device_id: str) -> None: ...

    async def touch(self, clinician_id: str, device_id: str, at: datetime) -> bool: ...


class ContentVault(Protocol):
    """Message content (PHI) kept encrypted for pages and re-pages of a dispatch."""

    async def put(
        self, content: PushContent, replace: bool = True, ttl_s: int | None = None
    ) -> bool:
        """Store ``content`` for ``ttl_s`` (default: the vault's own); with
        ``replace=False`` keep an existing record (False then)."""
        ...


class PracticeDirectory(Protocol):
    async def get(self, practice_id: str) -> Practice | None: ...


class EventPublisher(Protocol):
    """Sends an event to a catalogue topic (relative name), keyed."""

    async def publish(self, topic: str, key: str, event: BaseModel) -> None: ...


class AuditSink(Protocol):
    async def record(self, event: BaseModel) -> None: ...


@dataclass(frozen=True)
class StoredDispatch:
    """A dispatch as stored: the state as a dict, its version, its effects not yet done
    (each a dict with a stable ``id``, oldest first) and, per page effect, the devices a
    push already reached (``sent``: effect id -> device ids)."""

    state: dict[str, Any]
    version: int
    outbox: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    sent: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class DueTimer:
    member: str  # "ack|<dispatch_id>|<step>" or "rel|<held_id>"
    due_at: datetime


class DispatchStore(Protocol):
    """Dispatches and their effects. A commit appends its effects (never replaces any),
    and each effect is done on its own: a re-run does only what is left."""

    async def load(self, dispatch_id: str) -> StoredDispatch | None: ...

    async def commit(
        self,
        dispatch_id: str,
        expected_version: int,
        stored: StoredDispatch,
        add_timers: dict[str, datetime],
        remove_timers: list[str],
        claim_until: datetime | None = None,
        expire_after_s: int | None = None,
    ) -> bool:
        """Write state and timer changes, and append ``stored.outbox`` (new effects only),
        atomically if the version matches. The new effects are claimed by the committer
        until ``claim_until``; the effect scanner retries them after that if not done.
        ``expire_after_s``: the dispatch has ended; forget it after this long."""
        ...

    async def claim_effects(
        self, dispatch_id: str, effect_ids: list[str], now: datetime, until: datetime
    ) -> list[str]:
        """The ids among ``effect_ids`` still to do and not claimed by someone else now;
        they are claimed until ``until``."""
        ...

    async def release_effects(self, dispatch_id: str, effect_ids: list[str]) -> None:
        """Give up the claims on these effects (a run failed): the scanner may retry them."""
        ...

    async def mark_sent(self, dispatch_id: str, effect_id: str, device_ids: list[str]) -> None:
        """Pushes of page effect ``effect_id`` reached these devices (not again on a re-run)."""
        ...

    async def complete_effects(self, dispatch_id: str, effect_ids: list[str]) -> None:
        """These effects are done: gone from the outbox, with their claims and sends."""
        ...

    async def due_effects(self, now: datetime, retry_at: datetime, limit: int) -> list[str]:
        """Dispatches with effects whose retry time has come; each is put back at
        ``retry_at`` (its effects are retried then if still not done)."""
        ...

    async def note_paged(self, dispatch_id: str, clinician_ids: list[str], at: datetime) -> None:
        """These clinicians were paged for this dispatch (the app lists their dispatches);
        noting it again is harmless."""
        ...

    async def paged_for(self, clinician_id: str, limit: int) -> list[str]:
        """The dispatches this clinician was paged for in the last week, newest first."""
        ...

    async def postpone_effects(self, dispatch_id: str, retry_at: datetime) -> None:
        """Retry this dispatch's effects not before ``retry_at`` (if it has any)."""
        ...

    async def pending_effects(self) -> int:
        """How many dispatches have effects not done."""
        ...


class HeldStore(Protocol):
    async def hold(
        self, held_id: str, record: dict[str, Any], release_at: datetime, timer_member: str
    ) -> bool:
        """Store a held message and its release timer; False if already held."""
        ...

    async def get(self, held_id: str) -> dict[str, Any] | None:
        """A held message (None if already released)."""
        ...

    async def forget(self, held_id: str, timer_member: str) -> None:
        """Delete a released message and its timer."""
        ...

    async def mark_seen(self, key: str, ttl_s: int, value: str = "1") -> bool:
        """Remember an intake event id (with ``value``, e.g. a content fingerprint);
        False if it was already seen."""
        ...

    async def was_seen(self, key: str) -> bool: ...

    async def seen_value(self, key: str) -> str | None:
        """What ``mark_seen`` remembered for ``key`` (None: never seen)."""
        ...


class TimerIndex(Protocol):
    async def claim_due(self, now: datetime, lease_s: float, limit: int) -> list[DueTimer]: ...

    async def remove(self, members: list[str]) -> None: ...

    async def pending(self) -> int: ...
