"""On-call resolution: who is paged, in which order, at an instant.

A practice with coverage groups and an escalation policy for the urgency gets a
chain from that policy: each level targets a role of a group (resolved from the
layered schedule at the instant), a named clinician, everyone on call in a group,
or the operator desk. Otherwise the flat default list applies (``schedule``:
explicit shifts, then default primary and backup) with the practice-wide
timeouts. Either way the answering service's operator desk is last, so every
message ends with a human; a level whose role nobody covers is skipped, and
nobody is paged twice in one chain.

Shifts of the flat list are half-open (``start <= at < end``); when they overlap,
the one that started latest wins (on equal starts, the one listed last).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from engine.domain.practice import Practice
from engine.domain.schedule import CoverageRole, LevelTarget, SchedulePolicy, StopCondition
from engine.domain.schedule_resolution import chain_targets
from engine.schemas.intake import Urgency

__all__ = ["EscalationChain", "Level", "operator_level", "resolve_chain"]


@dataclass(frozen=True)
class Level:
    """One escalation level: everyone in ``targets`` is paged together."""

    name: str
    targets: tuple[str, ...]
    is_operator: bool = False
    ack_timeout_seconds: float | None = None  # None: the practice default for the urgency
    repeats: int | None = None

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError(f"escalation level {self.name!r} has no targets")


@dataclass(frozen=True)
class EscalationChain:
    """Levels in paging order; never empty, the operator desk level last and only last."""

    levels: tuple[Level, ...]
    stop_on_read: bool = False

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


def resolve_chain(
    practice: Practice,
    at: datetime,
    urgency: Urgency = Urgency.URGENT,
    group_id: str | None = None,
) -> EscalationChain:
    """The escalation chain in force at the instant ``at`` (timezone-aware)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("on-call resolution needs a timezone-aware datetime")
    found = _policy_for(practice, urgency)
    if practice.coverage_groups and found is not None:
        policy, own_pace = found
        # an unknown group on an event must not strand an urgent message: default group
        group = group_id if _known_group(practice, group_id) else None
        return _chain_from_policy(practice, policy, at, group, own_pace)
    return _flat_chain(practice, at)


def _known_group(practice: Practice, group_id: str | None) -> bool:
    return any(g.group_id == group_id for g in practice.coverage_groups)


def _policy_for(practice: Practice, urgency: Urgency) -> tuple[SchedulePolicy, bool] | None:
    """The urgency's policy, else the nearest higher urgency's, else the nearest lower
    one's; with whether its pace (timeouts, repeats) may be used. A policy borrowed from
    a lower urgency lends only its targets: an emergency must not wait out a routine
    level's timeout, so the urgency's own practice default applies instead."""
    policies = practice.escalation_policies
    for candidate in sorted(
        Urgency, key=lambda u: (u.rank < urgency.rank, abs(u.rank - urgency.rank))
    ):
        if candidate in policies:
            return policies[candidate], candidate.rank >= urgency.rank
    return None


def _chain_from_policy(
    practice: Practice,
    policy: SchedulePolicy,
    at: datetime,
    group_id: str | None,
    own_pace: bool = True,
) -> EscalationChain:
    levels: list[Level] = []
    paged: tuple[str, ...] = ()
    for index, spec in enumerate(policy.levels):
        if any(t.kind == "operator" for t in spec.targets):
            break  # the desk ends the chain; it is appended below
        people = _unique(
            (p for target in spec.targets for p in _targets(practice, target, at, group_id)),
            exclude=paged,
        )
        if people:
            name = spec.name or f"level-{index + 1}"
            timeout, repeats = (
                (spec.ack_timeout_seconds, spec.repeats) if own_pace else (None, None)
            )
            levels.append(Level(name, people, False, timeout, repeats))
            paged = (*paged, *people)
    stop_on_read = policy.stop_on is StopCondition.READ
    return EscalationChain((*levels, operator_level(practice)), stop_on_read=stop_on_read)


def _targets(
    practice: Practice, target: LevelTarget, at: datetime, group_id: str | None
) -> tuple[str, ...]:
    if target.kind == "clinician" and target.clinician_id is not None:
        return (target.clinician_id,)
    # a policy naming a group the practice no longer has pages the default group
    wanted = target.group_id if _known_group(practice, target.group_id) else group_id
    on_call = chain_targets(practice, wanted, at)
    if target.kind == "role" and target.role is not None:
        return on_call.get(target.role, ())
    if target.kind == "group":  # everyone on call in the group now, never the off-duty
        return tuple(p for role in CoverageRole for p in on_call.get(role, ()))
    return ()


def _flat_chain(practice: Practice, at: datetime) -> EscalationChain:
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
