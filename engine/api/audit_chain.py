"""A hash chain over the audit topic, so that a change to the audit trail is detectable.

Per partition of ``audit``, in offset order, each record's bytes extend the chain:
``hash(n) = SHA-256(hash(n-1) || SHA-256(record n))``, starting from 32 zero bytes. The
API's read model (one consumer group) keeps each partition's head in Redis and a
checkpoint every :data:`CHECKPOINT_EVERY` records; ``nightline verify --audit-chain``
reads the topic again, recomputes the chain from the first checkpoint still in the log,
and compares every checkpoint and the head. A record changed, removed or inserted in
the log, or a checkpoint or head changed in Redis, shows as a mismatch at a named
partition and offset. No route can change or delete an audit record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from engine.adapters.redis_keys import Keys

__all__ = [
    "CHECKPOINT_EVERY", "GENESIS", "AuditChain", "ChainBreak", "PartitionCheck", "extend",
    "verify_chain",
]  # fmt: skip

GENESIS = "00" * 32
CHECKPOINT_EVERY = 100

_ADVANCE = """
local head = redis.call('HGET', KEYS[1], 'offset')
if head and tonumber(head) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'offset', ARGV[1], 'hash', ARGV[2], 'count', ARGV[3])
if ARGV[4] == '1' then redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1] .. ':' .. ARGV[2]) end
return 1
"""


def extend(previous_hash: str, record: bytes) -> str:
    """The chain's hash after ``record``."""
    return hashlib.sha256(
        bytes.fromhex(previous_hash) + hashlib.sha256(record).digest()
    ).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    partition: int
    offset: int
    reason: str


class PartitionCheck:
    """One partition's chain recomputed record by record (offset order), so the whole
    topic is never in memory, and compared with the checkpoints and head kept."""

    def __init__(
        self, partition: int, checkpoints: dict[int, str], head: tuple[int, str] | None
    ) -> None:
        self.partition = partition
        self.head = head
        self.kept: dict[int, list[str]] = {o: [value] for o, value in checkpoints.items()}
        if head is not None:
            self.kept.setdefault(head[0], []).append(head[1])  # it may sit on a checkpoint
        self.breaks: list[ChainBreak] = []
        self.checked = 0
        self.pending = 0  # written after the head: not chained yet
        self._current: str | None = None
        self._start = 0
        self._last = -1
        self._stopped = False

    def feed(self, offset: int, value: bytes) -> None:
        if self._stopped:
            return
        if self.head is not None and offset > self.head[0]:
            self.pending += 1
            return
        if self._current is None and not self._anchor(offset):
            return
        self._last = offset
        if offset < self._start:
            return
        assert self._current is not None
        self._current = extend(self._current, value)
        self.checked += 1
        if any(hash_ != self._current for hash_ in self.kept.get(offset, ())):
            self.breaks.append(
                ChainBreak(self.partition, offset, "hash differs from the kept chain")
            )

    def _anchor(self, first: int) -> bool:
        """Where the recomputation starts: offset 0, or the first checkpoint in the log."""
        if first == 0:
            self._current, self._start = GENESIS, 0
            return True
        anchors = [o for o in sorted(self.kept) if o >= first - 1]
        reason = "no checkpoint within the retained log"
        if anchors and len(set(self.kept[anchors[0]])) == 1:
            self._start, self._current = anchors[0] + 1, self.kept[anchors[0]][0]
            return True
        if anchors:
            first, reason = anchors[0], "the kept hashes disagree"
        self.breaks.append(ChainBreak(self.partition, first, reason))
        self._stopped = True
        return False

    def finish(self) -> list[ChainBreak]:
        """Every break found, including a log that stops short of the kept head and records
        for which no chain is kept at all (never chained, or the chain was removed)."""
        if self._stopped:
            return self.breaks
        if self.head is None and self.checked:
            self.breaks.append(
                ChainBreak(
                    self.partition,
                    0,
                    "no chain is kept for this log (removed, or the API's read model never ran)",
                )
            )
        elif self.head is not None and self._last < self.head[0]:
            self.breaks.append(ChainBreak(self.partition, max(self._last, 0),
                                          "the log ends before the kept head"))  # fmt: skip
        return self.breaks


def verify_chain(
    partition: int,
    records: Iterable[tuple[int, bytes]],
    checkpoints: dict[int, str],
    head: tuple[int, str] | None,
) -> list[ChainBreak]:
    """Recompute one partition's chain from ``records`` (offset order) and compare."""
    check = PartitionCheck(partition, checkpoints, head)
    for offset, value in records:
        check.feed(offset, value)
    return check.finish()


class AuditChain:
    """The chain's head and checkpoints in Redis, advanced by the read model."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def add(self, partition: int, offset: int, record: bytes) -> None:
        head = await self._redis.hmget(self._keys.audit_chain(partition), "offset", "hash", "count")
        if head[0] is not None and int(head[0]) >= offset:
            return  # read again after a restart: already in the chain
        previous = head[1].decode() if head[1] is not None else GENESIS
        count = int(head[2]) + 1 if head[2] is not None else 1
        new_hash = extend(previous, record)
        checkpoint = "1" if count % CHECKPOINT_EVERY == 1 or offset == 0 else "0"
        keys = [self._keys.audit_chain(partition), self._keys.audit_checkpoints(partition)]
        await self._redis.eval(_ADVANCE, 2, *keys, offset, new_hash, count, checkpoint)

    async def state(self, partition: int) -> tuple[dict[int, str], tuple[int, str] | None]:
        raw = await self._redis.zrange(self._keys.audit_checkpoints(partition), 0, -1)
        checkpoints = {}
        for item in raw:
            offset, _, value = (item.decode() if isinstance(item, bytes) else item).partition(":")
            checkpoints[int(offset)] = value
        head = await self._redis.hmget(self._keys.audit_chain(partition), "offset", "hash")
        if head[0] is None:
            return checkpoints, None
        return checkpoints, (int(head[0]), head[1].decode())
