"""On-call resolution for the simple schedule: who is paged, in which order, at an instant.

A chain is primary, then backup, then the answering service's operator desk, which
is always last so that every message ends with a human. Shifts are half-open
(``start <= at < end``); when shifts overlap, the one that started latest wins (on
equal starts, the one listed last). Without a covering shift the schedule's defaults
apply. Layered rotations replace this in a later issue; the chain shape stays.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from engine.domain.practice import Practice

__all__ = ["EscalationChain", "Level", "operator_level", "resolve_chain"]


@dataclass(frozen=True)
class Level:
    """One escalation level: everyone in ``targets`` is paged together."""

    name: str
    targets: tuple[str, ...]
    is_operator: bool = False

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError(f"escalation level {self.name!r} has no targets")


@dataclass(frozen=True)
class EscalationChain:
    """Levels in paging order; never empty, the operator desk level last and only last."""

    levels: tuple[Level, ...]

    def __post_init__(self) -> None:
        if not self.levels or not self.levels[-1].is_operator:
            raise ValueError("an escalation chain must end with the operator desk level")
        if any(level.is_operator for level in self.levels[:-1]):
            raise ValueError("the operator desk level must be the last level")

    @property
    def clinician_levels(self) -> tuple[Level, ...]:
        """The levels before the operator desk (empty when nobody is on call)."""
        return self.levels[:-1]

    @property
    def operator(self) -> Level:
        """The final, human level at the answering service."""
        return self.levels[-1]


def operator_level(practice: Practice) -> Level:
    """The operator desk level for ``practice``."""
    return Level("operator", (practice.operator_desk,), is_operator=True)


def _unique(people: Iterable[str], exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    """``people`` in order, without repeats and without anyone in ``exclude``."""
    return tuple(dict.fromkeys(p for p in people if p not in exclude))


def resolve_chain(practice: Practice, at: datetime) -> EscalationChain:
    """The escalation chain in force at the instant ``at`` (timezone-aware)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("on-call resolution needs a timezone-aware datetime")
    schedule = practice.schedule
    covering = [
        (shift.start, index, shift)
        for index, shift in enumerate(schedule.shifts)
        if shift.start <= at < shift.end
    ]
    if covering:
        shift = max(covering, key=lambda entry: (entry[0], entry[1]))[2]
        primary_ids, backup_ids = shift.primary, shift.backup
    else:
        primary_ids, backup_ids = schedule.default_primary, schedule.default_backup
    primary = _unique(primary_ids)
    backup = _unique(backup_ids, exclude=primary)
    levels = [
        Level(name, people) for name, people in (("primary", primary), ("backup", backup)) if people
    ]
    return EscalationChain((*levels, operator_level(practice)))
