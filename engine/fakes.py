"""In-memory fakes of every port, shipped with the package (like httpx's
MockTransport) so handler tests and scenario tests need no servers.

The stores behave as their Redis adapters do (``tests/integration/test_fake_contracts.py``
runs one suite against both): records come back as JSON gives them back (copies, tuples
as lists), timers keep whole milliseconds, devices are listed by device id.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from engine.adapters.redis_dispatches import effect_order
from engine.adapters.redis_store import from_ms, to_ms
from engine.domain.practice import Practice
from engine.ports import (
    Device,
    DeviceOwnedElsewhere,
    DueTimer,
    PushRequest,
    PushResult,
    StoredDispatch,
)
from engine.push.payload import PushContent

__all__ = [
    "FakeClock",
    "MemoryAuditSink",
    "MemoryDeviceDirectory",
    "MemoryDispatchStore",
    "MemoryHeldStore",
    "MemoryPracticeDirectory",
    "MemoryPublisher",
    "MemoryTimerIndex",
    "MemoryTokenStore",
    "MemoryVault",
    "RecordingPushGateway",
]


@dataclass
class FakeClock:
    current: datetime = field(default_factory=lambda: datetime(2026, 1, 6, 3, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> datetime:
        self.current += timedelta(seconds=seconds)
        return self.current


@dataclass
class RecordingPushGateway:
    sent: list[PushRequest] = field(default_factory=list)
    failing_devices: set[str] = field(default_factory=set)

    async def send(self, request: PushRequest) -> PushResult:
        if request.device.device_id in self.failing_devices:
            return PushResult(ok=False, detail="fake failure")
        self.sent.append(request)
        return PushResult(ok=True)


@dataclass
class MemoryPublisher:
    published: list[tuple[str, str, BaseModel]] = field(default_factory=list)

    async def publish(self, topic: str, key: str, event: BaseModel) -> None:
        self.published.append((topic, key, event))

    def on(self, topic: str) -> list[Any]:
        return [event for name, _, event in self.published if name == topic]


@dataclass
class MemoryAuditSink:
    entries: list[BaseModel] = field(default_factory=list)

    async def record(self, event: BaseModel) -> None:
        self.entries.append(event)


@dataclass
class MemoryPracticeDirectory:
    practices: dict[str, Practice] = field(default_factory=dict)

    async def get(self, practice_id: str) -> Practice | None:
        return self.practices.get(practice_id)


def _as_json(value: Any) -> Any:
    """``value`` as a JSON store gives it back: a fresh copy, tuples as lists."""
    return json.loads(json.dumps(value))


@dataclass
class MemoryDeviceDirectory:
    """Fake of :class:`~engine.adapters.redis_directory.RedisDeviceDirectory`, with its
    owner rule: a device id belongs to the clinician who registered it until that
    clinician removes it."""

    devices: dict[str, list[Device]] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # device id -> clinician id
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)  # why deactivated

    async def devices_for(self, clinician_ids: list[str]) -> dict[str, list[Device]]:
        """Active devices per clinician, sorted by device id."""
        return {
            c: sorted((d for d in self.devices.get(c, []) if d.active), key=lambda d: d.device_id)
            for c in clinician_ids
        }

    async def get(self, clinician_id: str, device_id: str) -> Device | None:
        """One device, active or not."""
        return next(
            (d for d in self.devices.get(clinician_id, []) if d.device_id == device_id), None
        )

    async def deactivation_reason(self, clinician_id: str, device_id: str) -> str | None:
        device = await self.get(clinician_id, device_id)
        return (
            None if device is None or device.active else self.reasons.get((clinician_id, device_id))
        )

    async def register(self, device: Device) -> None:
        self._check_owner(device.clinician_id, device.device_id)
        self._drop(device.clinician_id, device.device_id)
        self.devices.setdefault(device.clinician_id, []).append(device)
        self.owners[device.device_id] = device.clinician_id

    async def remove(self, clinician_id: str, device_id: str) -> None:
        self._check_owner(clinician_id, device_id)
        self._drop(clinician_id, device_id)
        self.owners.pop(device_id, None)

    async def rotate_token(self, clinician_id: str, device_id: str, new_token: str) -> bool:
        self._check_owner(clinician_id, device_id)
        self.reasons.pop((clinician_id, device_id), None)
        return self._change(clinician_id, device_id, push_token=new_token, active=True)

    async def deactivate(self, clinician_id: str, device_id: str, reason: str) -> bool:
        changed = self._change(clinician_id, device_id, active=False)
        if changed:
            self.reasons[(clinician_id, device_id)] = reason
        return changed

    async def touch(self, clinician_id: str, device_id: str, at: datetime) -> bool:
        return self._change(clinician_id, device_id, last_seen=at.isoformat())

    def _check_owner(self, clinician_id: str, device_id: str) -> None:
        if self.owners.get(device_id, clinician_id) != clinician_id:
            raise DeviceOwnedElsewhere(clinician_id, device_id)

    def _drop(self, clinician_id: str, device_id: str) -> None:
        kept = [d for d in self.devices.get(clinician_id, []) if d.device_id != device_id]
        self.devices[clinician_id] = kept
        self.reasons.pop((clinician_id, device_id), None)

    def _change(self, clinician_id: str, device_id: str, **changes: Any) -> bool:
        if self.owners.get(device_id, clinician_id) != clinician_id:
            return False
        devices = self.devices.get(clinician_id, [])
        for i, device in enumerate(devices):
            if device.device_id == device_id:
                devices[i] = replace(device, **changes)
                return True
        return False


@dataclass
class MemoryVault:
    """Fake :class:`engine.ports.ContentVault` (and the gateway's message source)."""

    contents: dict[str, PushContent] = field(default_factory=dict)
    ttls: dict[str, int | None] = field(default_factory=dict)  # None: the vault's default

    async def put(
        self, content: PushContent, replace: bool = True, ttl_s: int | None = None
    ) -> bool:
        if not replace and content.dispatch_id in self.contents:
            return False
        self.contents[content.dispatch_id] = content
        self.ttls[content.dispatch_id] = ttl_s
        return True

    async def get(self, dispatch_id: str) -> PushContent | None:
        return self.contents.get(dispatch_id)


@dataclass
class MemoryTimerIndex:
    """Fake of :class:`~engine.adapters.redis_store.RedisTimerIndex`: scores and due times
    in whole milliseconds since the epoch, as Redis keeps them."""

    timers: dict[str, int] = field(default_factory=dict)  # member -> score (due or lease end)
    due: dict[str, int] = field(default_factory=dict)  # member -> due time

    def add(self, member: str, at: datetime) -> None:
        self.timers[member] = self.due[member] = to_ms(at)

    async def claim_due(self, now: datetime, lease_s: float, limit: int) -> list[DueTimer]:
        now_ms = to_ms(now)
        ready = sorted((s, m) for m, s in self.timers.items() if s <= now_ms)[:limit]
        for _, member in ready:
            self.timers[member] = now_ms + int(lease_s * 1000)
        return [DueTimer(member=m, due_at=from_ms(self.due[m])) for _, m in ready]

    async def remove(self, members: list[str]) -> None:
        for member in members:
            self.timers.pop(member, None)
            self.due.pop(member, None)

    async def pending(self) -> int:
        return len(self.timers)


@dataclass
class MemoryDispatchStore:
    """Fake of :class:`~engine.adapters.redis_dispatches.RedisDispatchStore`: ``rows`` hold
    state, version and meta; ``effects`` the effects not done, per dispatch, by id."""

    timers: MemoryTimerIndex
    rows: dict[str, StoredDispatch] = field(default_factory=dict)
    effects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    claims: dict[tuple[str, str], int] = field(default_factory=dict)
    sent: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    retry_at: dict[str, int] = field(default_factory=dict)
    expire_after_s: dict[str, int] = field(default_factory=dict)  # ended: forgotten after
    paged: dict[str, dict[str, datetime]] = field(default_factory=dict)  # clinician -> when

    async def load(self, dispatch_id: str) -> StoredDispatch | None:
        row = self.rows.get(dispatch_id)
        if row is None:
            return None
        pending = self.effects.get(dispatch_id, {})
        outbox = [{**pending[i], "id": i} for i in sorted(pending, key=effect_order)]
        sent = {e: list(d) for (k, e), d in self.sent.items() if k == dispatch_id and d}
        return StoredDispatch(
            _as_json(row.state), row.version, _as_json(outbox), _as_json(row.meta), sent
        )

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
        current = self.rows.get(dispatch_id)
        if (current.version if current else 0) != expected_version:
            return False
        self.rows[dispatch_id] = StoredDispatch(
            _as_json(stored.state), stored.version, [], _as_json(stored.meta)
        )
        claim = to_ms(claim_until) if claim_until else 0
        pending = self.effects.setdefault(dispatch_id, {})
        for effect in _as_json(stored.outbox):
            effect_id = effect.pop("id")
            pending.setdefault(effect_id, effect)
            self.claims[(dispatch_id, effect_id)] = claim
        if stored.outbox:
            self.retry_at[dispatch_id] = min(self.retry_at.get(dispatch_id, claim), claim)
        await self.timers.remove(remove_timers)
        for member, at in add_timers.items():
            self.timers.add(member, at)
        if expire_after_s:
            self.expire_after_s[dispatch_id] = expire_after_s
        return True

    async def claim_effects(
        self, dispatch_id: str, effect_ids: list[str], now: datetime, until: datetime
    ) -> list[str]:
        pending = self.effects.get(dispatch_id, {})
        mine = []
        for effect_id in effect_ids:
            key = (dispatch_id, effect_id)
            if effect_id in pending and self.claims.get(key, 0) <= to_ms(now):
                self.claims[key] = to_ms(until)
                mine.append(effect_id)
        return mine

    async def release_effects(self, dispatch_id: str, effect_ids: list[str]) -> None:
        for effect_id in effect_ids:
            self.claims.pop((dispatch_id, effect_id), None)

    async def note_paged(self, dispatch_id: str, clinician_ids: list[str], at: datetime) -> None:
        for clinician_id in clinician_ids:
            self.paged.setdefault(clinician_id, {})[dispatch_id] = at

    async def paged_for(self, clinician_id: str, limit: int) -> list[str]:
        mine = self.paged.get(clinician_id, {})
        return sorted(mine, key=lambda d: mine[d], reverse=True)[:limit]

    async def mark_sent(self, dispatch_id: str, effect_id: str, device_ids: list[str]) -> None:
        if effect_id in self.effects.get(dispatch_id, {}):
            self.sent.setdefault((dispatch_id, effect_id), []).extend(device_ids)

    async def complete_effects(self, dispatch_id: str, effect_ids: list[str]) -> None:
        pending = self.effects.get(dispatch_id, {})
        for effect_id in effect_ids:
            pending.pop(effect_id, None)
            self.claims.pop((dispatch_id, effect_id), None)
            self.sent.pop((dispatch_id, effect_id), None)
        if not pending:
            self.effects.pop(dispatch_id, None)
            self.retry_at.pop(dispatch_id, None)

    async def due_effects(self, now: datetime, retry_at: datetime, limit: int) -> list[str]:
        due = sorted((at, d) for d, at in self.retry_at.items() if at <= to_ms(now))[:limit]
        for _, dispatch_id in due:
            self.retry_at[dispatch_id] = to_ms(retry_at)
        return [d for _, d in due]

    async def postpone_effects(self, dispatch_id: str, retry_at: datetime) -> None:
        if dispatch_id in self.retry_at:
            self.retry_at[dispatch_id] = to_ms(retry_at)

    async def pending_effects(self) -> int:
        return len(self.retry_at)


@dataclass
class MemoryHeldStore:
    """Fake of :class:`~engine.adapters.redis_store.RedisHeldStore` (seen keys never expire)."""

    timers: MemoryTimerIndex
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)

    async def hold(
        self, held_id: str, record: dict[str, Any], release_at: datetime, timer_member: str
    ) -> bool:
        if held_id in self.held:
            return False
        self.held[held_id] = _as_json(record)
        self.timers.add(timer_member, release_at)
        return True

    async def get(self, held_id: str) -> dict[str, Any] | None:
        record = self.held.get(held_id)
        return None if record is None else _as_json(record)

    async def forget(self, held_id: str, timer_member: str) -> None:
        self.held.pop(held_id, None)
        await self.timers.remove([timer_member])

    async def mark_seen(self, key: str, ttl_s: int, value: str = "1") -> bool:
        if key in self.seen:
            return False
        self.seen[key] = value
        return True

    async def was_seen(self, key: str) -> bool:
        return key in self.seen

    async def seen_value(self, key: str) -> str | None:
        return self.seen.get(key)


class MemoryTokenStore:
    """Fake of the Redis calls the APNs token provider makes (get, set nx/px, delete),
    over a dict; values are stored as bytes and expire on ``clock``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.data: dict[str, tuple[bytes, float | None]] = {}
        self.clock = clock
        self.calls: list[str] = []

    def _live(self, name: str) -> bytes | None:
        value, expires = self.data.get(name, (None, None))
        if expires is not None and self.clock() >= expires:
            del self.data[name]
            return None
        return value

    async def get(self, name: str) -> bytes | None:
        self.calls.append("get")
        return self._live(name)

    async def set(self, name: str, value: str, *, nx: bool = False, px: int | None = None) -> Any:
        self.calls.append("set")
        if nx and self._live(name) is not None:
            return None
        self.data[name] = (value.encode(), None if px is None else self.clock() + px / 1000)
        return True

    async def delete(self, *names: str) -> int:
        return sum(self.data.pop(n, None) is not None for n in names)
