"""The authoritative store of practice definitions (Redis), for tools and the CLI.

``put`` bumps the practice's revision atomically (an optimistic WATCH/MULTI on
the practice key), stores the document, keeps every revision's JSON, appends a
history entry (revision, time, actor, a short non-PHI summary such as
``layers 3->4, overrides +2``), and then publishes the document to the
compacted ``practices`` topic and an audit event. Workers follow that topic
(:mod:`engine.adapters.practice_cache`).

Synchronous on purpose (redis-py and kafka-python): it runs in short-lived
commands, not in the worker's event loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError
from redis import Redis
from redis.exceptions import WatchError

from engine.adapters.redis_keys import Keys
from engine.domain.practice import Practice
from engine.schemas._base import Identifier
from engine.schemas.audit import AuditEvent
from engine.schemas.codec import encode
from engine.schemas.practices import PracticeDefinitionChanged

__all__ = [
    "HistoryEntry",
    "PracticePublisher",
    "PracticeStore",
    "PublishError",
    "RevisionConflict",
    "summarize",
]

_ACTOR: TypeAdapter[str] = TypeAdapter(Identifier)


class PracticePublisher(Protocol):
    """Sends bytes to a catalogue topic (``engine.producer.NightlineProducer`` is one)."""

    def send_raw(self, topic: str, key: str, value: bytes, timeout_s: float = ...) -> None: ...


class PublishError(RuntimeError):
    """The practice was stored at ``revision`` but could not be published."""

    def __init__(self, practice_id: str, revision: int, cause: Exception) -> None:
        super().__init__(
            f"stored {practice_id} revision {revision} but could not publish it ({cause}); "
            f"workers see it only on a cache miss. Retry: nightline schedule publish {practice_id}"
        )
        self.revision = revision


class RevisionConflict(RuntimeError):
    """The practice is at another revision than the writer expected (someone else saved)."""

    def __init__(self, practice_id: str, expected: int, current: int) -> None:
        super().__init__(f"{practice_id} is at revision {current}, not {expected}")
        self.current = current


@dataclass(frozen=True)
class HistoryEntry:
    revision: int
    at: datetime
    actor: str
    summary: str


class PracticeStore:
    """Practices in Redis (``redis`` is a synchronous client)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        publisher: PracticePublisher | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._publisher = publisher
        self._now = now

    def get(self, practice_id: str) -> Practice | None:
        raw = self._redis.get(self._keys.practice(practice_id))
        return Practice.model_validate_json(raw) if raw is not None else None

    def get_revision(self, practice_id: str, revision: int) -> Practice | None:
        raw = self._redis.hget(self._keys.practice_revisions(practice_id), str(revision))
        return Practice.model_validate_json(raw) if raw is not None else None

    def history(self, practice_id: str) -> list[HistoryEntry]:
        rows = self._redis.lrange(self._keys.practice_history(practice_id), 0, -1)
        return [_entry(json.loads(row)) for row in rows]

    def practice_ids(self) -> list[str]:
        members = self._redis.smembers(self._keys.practices)
        return sorted(m.decode() if isinstance(m, bytes) else m for m in members)

    def all(self) -> list[Practice]:
        found = (self.get(pid) for pid in self.practice_ids())
        return [p for p in found if p is not None]

    def put(self, practice: Practice, actor: str, expected_revision: int | None = None) -> int:
        """Store ``practice`` as its next revision, publish it; return the revision. With
        ``expected_revision`` (0: it must not exist yet), raise :class:`RevisionConflict`
        instead when the stored revision is another one."""
        _ACTOR.validate_python(actor)
        if self._publisher is None:
            raise RuntimeError("PracticeStore.put needs a publisher")
        pid, keys = practice.practice_id, self._keys
        with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(keys.practice(pid))
                    previous_raw = pipe.get(keys.practice(pid))
                    previous, previous_rev = _previous(previous_raw)
                    if expected_revision is not None and expected_revision != previous_rev:
                        pipe.reset()
                        raise RevisionConflict(pid, expected_revision, previous_rev)
                    stored = practice.model_copy(update={"revision": previous_rev + 1})
                    summary = summarize(previous, stored)
                    entry = HistoryEntry(stored.revision, self._now(), actor, summary)
                    document = stored.model_dump_json()
                    pipe.multi()
                    if previous_raw is not None:  # written before the store kept revisions
                        pipe.hsetnx(keys.practice_revisions(pid), str(previous_rev), previous_raw)
                    pipe.set(keys.practice(pid), document)
                    pipe.hset(keys.practice_revisions(pid), str(stored.revision), document)
                    pipe.rpush(keys.practice_history(pid), _entry_json(entry))
                    pipe.sadd(keys.practices, pid)
                    pipe.execute()
                    break
                except WatchError:
                    continue
        try:
            self.publish(stored, actor, entry)
            self.republish(pid, after=stored.revision)
        except Exception as exc:
            raise PublishError(pid, stored.revision, exc) from exc
        return stored.revision

    def republish(self, practice_id: str, after: int = 0) -> int:
        """Publish the stored document again if its revision is above ``after``.

        ``put`` calls this after publishing: if a concurrent ``put`` committed a newer
        revision and published it before ours landed, the newest is sent again, so
        the last record of the compacted topic is never older than Redis.
        """
        while (latest := self.get(practice_id)) is not None and latest.revision > after:
            rows = self._redis.lrange(self._keys.practice_history(practice_id), -1, -1)
            entry = _entry(json.loads(rows[0])) if rows else None
            actor = entry.actor if entry and entry.revision == latest.revision else "engine"
            self.publish(latest, actor)
            after = latest.revision
        return after

    def publish(self, practice: Practice, actor: str, entry: HistoryEntry | None = None) -> None:
        """Send the document to ``practices`` and, with a history entry, an audit event."""
        assert self._publisher is not None
        at = entry.at if entry is not None else self._now()
        changed = PracticeDefinitionChanged(
            practice_id=practice.practice_id,
            revision=practice.revision,
            actor=actor,
            changed_at=at,
            practice=practice,
        )
        self._publisher.send_raw("practices", practice.practice_id, encode(changed))
        if entry is None:
            return
        audit = AuditEvent(
            at=at,
            practice_id=practice.practice_id,
            subject_type="practice",
            subject_id=practice.practice_id,
            actor=actor,
            action="schedule_changed",
            detail=f"revision {entry.revision}: {entry.summary}"[:300],
        )
        self._publisher.send_raw("audit", practice.practice_id, encode(audit))


def _previous(raw: bytes | None) -> tuple[Practice | None, int]:
    if raw is None:
        return None, 0
    try:
        practice = Practice.model_validate_json(raw)
    except ValidationError:  # an older shape: keep its revision number, summarise as new
        return None, int(json.loads(raw).get("revision", 1))
    return practice, practice.revision


def _entry_json(entry: HistoryEntry) -> str:
    return json.dumps({**asdict(entry), "at": entry.at.isoformat()})


def _entry(row: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        row["revision"], datetime.fromisoformat(row["at"]), row["actor"], row["summary"]
    )


def _collections(p: Practice) -> dict[str, dict[str, Any]]:
    groups = p.coverage_groups
    return {
        "groups": {g.group_id: g.name for g in groups},
        "layers": {f"{g.group_id}/{x.layer_id}": x for g in groups for x in g.layers},
        "clinicians": {c.clinician_id: c for c in p.clinicians},
        "policies": {str(k): v for k, v in p.escalation_policies.items()},
    }


def _overrides(p: Practice) -> dict[str, Any]:
    return {f"{g.group_id}/{o.override_id}": o for g in p.coverage_groups for o in g.overrides}


def summarize(before: Practice | None, after: Practice) -> str:
    """A short description of a change: counts and section names, never free text."""
    now = _collections(after)
    overrides_after = _overrides(after)
    if before is None:
        counts = [f"{len(v)} {k}" for k, v in now.items()] + [f"{len(overrides_after)} overrides"]
        return "created: " + ", ".join(counts)
    parts = []
    for name, was in _collections(before).items():
        if len(was) != len(now[name]):
            parts.append(f"{name} {len(was)}->{len(now[name])}")
        elif was != now[name]:
            parts.append(f"{name} edited")
    overrides_before = _overrides(before)
    both = overrides_after.keys() & overrides_before.keys()
    added = len(overrides_after.keys() - both)
    removed = len(overrides_before.keys() - both)
    edited = sum(1 for k in both if overrides_after[k] != overrides_before[k])
    marks = [f"{sign}{n}" for sign, n in (("+", added), ("-", removed), ("~", edited)) if n]
    if marks:
        parts.append("overrides " + " ".join(marks))
    skip = {"revision", "clinicians", "coverage_groups", "escalation_policies"}
    parts += [
        f"{field} changed"
        for field in type(after).model_fields
        if field not in skip and getattr(before, field) != getattr(after, field)
    ]
    if not parts and before.coverage_groups != after.coverage_groups:
        parts.append("groups edited")
    return ", ".join(parts) or "no changes"
