"""On-call resolution: who is paged, in which order, at an instant.

A practice's escalation for an urgency is a list of :class:`LevelSpec` (the policy,
frozen when a dispatch starts): each level says *how* to find its people (a role of a
coverage group, a named clinician, everyone on call in a group, or the primary / backup
of the flat default list) and its pace. :func:`resolve_level` answers *who* those people
are at an instant, with the reasons, so a dispatch resolves each level when that level
starts (an 03:00 "out sick" override or an 08:00 handoff reaches a running escalation,
as in GoAlert). Either way the answering service's operator desk is last, so every
message ends with a human.

:func:`resolve_chain` is the whole chain at one instant (for display and for the
snapshot a dispatch keeps): a level whose people nobody covers is left out, and nobody
is paged twice in one chain.

Shifts of the flat list are half-open (``start <= at < end``); when they overlap, the
one that started latest wins (on equal starts, the one listed last).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.domain.practice import Practice
from engine.domain.schedule import CoverageRole, LevelTarget, SchedulePolicy, StopCondition
from engine.domain.schedule_resolution import chain_targets, group_for
from engine.schemas.intake import Urgency

__all__ = [
    "EscalationChain",
    "FrozenPolicy",
    "Level",
    "LevelSpec",
    "ResolvedLevel",
    "operator_level",
    "policy_levels",
    "resolve_chain",
    "resolve_level",
]

FLAT_ROLES = ("primary", "backup")


@dataclass(frozen=True)
class LevelSpec:
    """One level of a frozen escalation policy: how to find its people, and its pace.

    ``targets`` (policy targets) or ``flat_role`` (the flat default list) say who;
    ``group_id`` is the coverage group the event asked for (None: the default group).
    A None timeout or repeats means the practice default for the urgency.
    """

    name: str
    targets: tuple[LevelTarget, ...] = ()
    flat_role: str | None = None
    group_id: str | None = None
    ack_timeout_seconds: float | None = None
    repeats: int | None = None
    desk_id: str | None = None  # the operator desk level only

    @property
    def is_operator(self) -> bool:
        return self.desk_id is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "targets": [t.model_dump(mode="json") for t in self.targets],
            "flat_role": self.flat_role,
            "group_id": self.group_id,
            "ack_timeout_seconds": self.ack_timeout_seconds,
            "repeats": self.repeats,
            "desk_id": self.desk_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LevelSpec:
        return cls(
            name=str(data["name"]),
            targets=tuple(LevelTarget.model_validate(t) for t in data.get("targets", ())),
            flat_role=data.get("flat_role"),
            group_id=data.get("group_id"),
            ack_timeout_seconds=data.get("ack_timeout_seconds"),
            repeats=data.get("repeats"),
            desk_id=data.get("desk_id"),
        )


@dataclass(frozen=True)
class FrozenPolicy:
    """An urgency's escalation as a dispatch freezes it: the levels (the desk last), and
    how long a read pauses re-paging (None: one ack timeout of the step read; 0: not)."""

    levels: tuple[LevelSpec, ...]
    read_grace: float | None = 0.0


@dataclass(frozen=True)
class ResolvedLevel:
    """Who a level pages at an instant, and why (ids and schedule terms only, no PHI)."""

    people: tuple[str, ...]
    why: tuple[str, ...] = ()


@dataclass(frozen=True)
class Level:
    """One escalation level: everyone in ``targets`` is paged together."""

    name: str
    targets: tuple[str, ...]
    is_operator: bool = False
    ack_timeout_seconds: float | None = None  # None: the practice default for the urgency
    repeats: int | None = None
    spec: LevelSpec | None = field(default=None, compare=False)  # how it was resolved

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError(f"escalation level {self.name!r} has no targets")


@dataclass(frozen=True)
class EscalationChain:
    """Levels in paging order; never empty, the operator desk level last and only last."""

    levels: tuple[Level, ...]
    read_grace: float | None = 0.0  # how long a read pauses re-paging (see FrozenPolicy)

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
    return Level("operator", (practice.operator_desk,), is_operator=True, spec=_desk(practice))


def _desk(practice: Practice) -> LevelSpec:
    return LevelSpec("operator", desk_id=practice.operator_desk)


def _unique(people: Iterable[str], exclude: Iterable[str] = ()) -> tuple[str, ...]:
    """``people`` in order, without repeats and without anyone in ``exclude``."""
    skip = set(exclude)
    return tuple(dict.fromkeys(p for p in people if p not in skip))


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("on-call resolution needs a timezone-aware datetime")


def policy_levels(
    practice: Practice, urgency: Urgency = Urgency.URGENT, group_id: str | None = None
) -> FrozenPolicy:
    """The escalation policy for ``urgency`` as level specs, the desk last, with its read
    grace. Independent of the instant: nobody is resolved here."""
    found = practice.schedule_policy_for(urgency)
    if practice.coverage_groups and found is not None:
        policy, own_pace = found
        # an unknown group on an event must not strand an urgent message: default group
        group = group_id if _known_group(practice, group_id) else None
        specs = _policy_specs(policy, group, own_pace)
        return FrozenPolicy((*specs, _desk(practice)), _read_grace(policy))
    flat = tuple(LevelSpec(role, flat_role=role) for role in FLAT_ROLES)
    return FrozenPolicy((*flat, _desk(practice)))


def _read_grace(policy: SchedulePolicy) -> float | None:
    """``read_grace_seconds`` when set; else ``stop_on: read`` (which once ended the
    escalation on a read) pauses re-paging for one ack timeout, and ``accepted`` not at all."""
    if policy.read_grace_seconds is not None:
        return policy.read_grace_seconds
    return None if policy.stop_on is StopCondition.READ else 0.0


def resolve_level(practice: Practice, spec: LevelSpec, at: datetime) -> ResolvedLevel:
    """Who ``spec`` pages at the aware instant ``at`` (may be nobody), and why."""
    _require_aware(at)
    if spec.desk_id is not None:
        return ResolvedLevel((spec.desk_id,), ("operator desk",))
    if spec.flat_role is not None:
        return _flat_level(practice, spec.flat_role, at)
    people: list[str] = []
    why: list[str] = []
    for target in spec.targets:
        found, reason = _targets(practice, target, at, spec.group_id)
        people += found
        why.append(reason if found else f"{reason}: nobody")
    return ResolvedLevel(_unique(people), tuple(why))


def resolve_chain(
    practice: Practice,
    at: datetime,
    urgency: Urgency = Urgency.URGENT,
    group_id: str | None = None,
) -> EscalationChain:
    """The escalation chain in force at the instant ``at`` (timezone-aware)."""
    _require_aware(at)
    policy = policy_levels(practice, urgency, group_id)
    levels: list[Level] = []
    paged: tuple[str, ...] = ()
    for spec in policy.levels[:-1]:
        people = _unique(resolve_level(practice, spec, at).people, exclude=paged)
        if people:
            timeout, repeats = spec.ack_timeout_seconds, spec.repeats
            levels.append(Level(spec.name, people, False, timeout, repeats, spec))
            paged = (*paged, *people)
    return EscalationChain((*levels, operator_level(practice)), read_grace=policy.read_grace)


def _known_group(practice: Practice, group_id: str | None) -> bool:
    return any(g.group_id == group_id for g in practice.coverage_groups)


def _policy_specs(
    policy: SchedulePolicy, group_id: str | None, own_pace: bool
) -> tuple[LevelSpec, ...]:
    specs: list[LevelSpec] = []
    for index, level in enumerate(policy.levels):
        if any(t.kind == "operator" for t in level.targets):
            break  # the desk ends the chain; it is appended by the caller
        timeout, repeats = (level.ack_timeout_seconds, level.repeats) if own_pace else (None, None)
        name = level.name or f"level-{index + 1}"
        specs.append(LevelSpec(name, tuple(level.targets), None, group_id, timeout, repeats))
    return tuple(specs)


def _targets(
    practice: Practice, target: LevelTarget, at: datetime, group_id: str | None
) -> tuple[tuple[str, ...], str]:
    if target.kind == "clinician" and target.clinician_id is not None:
        return (target.clinician_id,), f"named {target.clinician_id}"
    # a policy naming a group the practice no longer has pages the default group
    wanted = target.group_id if _known_group(practice, target.group_id) else group_id
    group = group_for(practice, wanted).group_id
    on_call = chain_targets(practice, wanted, at)
    if target.kind == "role" and target.role is not None:
        reason = f"{target.role.value} of {group}{_overrides(practice, group, target.role, at)}"
        return on_call.get(target.role, ()), reason
    if target.kind == "group":  # everyone on call in the group now, never the off-duty
        people = tuple(p for role in CoverageRole for p in on_call.get(role, ()))
        return people, f"on call in {group}"
    return (), f"{target.kind} target"


def _overrides(practice: Practice, group_id: str, role: CoverageRole, at: datetime) -> str:
    """The ids of the role's overrides in force at ``at``, as audit text."""
    group = group_for(practice, group_id)
    active = [o.override_id for o in group.overrides if o.role == role and o.start <= at < o.end]
    return f" (override {', '.join(active)})" if active else ""


def _flat_level(practice: Practice, role: str, at: datetime) -> ResolvedLevel:
    schedule = practice.schedule
    covering = [
        (shift.start, index, shift)
        for index, shift in enumerate(schedule.shifts)
        if shift.start <= at < shift.end
    ]
    if covering:
        shift = max(covering, key=lambda entry: (entry[0], entry[1]))[2]
        primary_ids, backup_ids, source = shift.primary, shift.backup, "shift"
    else:
        primary_ids, backup_ids = schedule.default_primary, schedule.default_backup
        source = "default list"
    primary = _unique(primary_ids)
    if role == "primary":
        return ResolvedLevel(primary, (f"primary of the {source}",))
    return ResolvedLevel(_unique(backup_ids, exclude=primary), (f"backup of the {source}",))
