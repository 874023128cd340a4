"""Escalation pace: a more urgent message never waits longer than a less urgent one.

The pace of a level is its acknowledgement timeout and its time on the level with
re-pages (``ack_timeout_seconds * (1 + repeats)``). The rule, checked when a practice
is validated (files, the store and the ``practices`` topic alike):

1. ``escalation`` (the practice-wide pace, used by flat schedules and by an urgency
   that borrows a less urgent policy's levels) defines every urgency.
2. In ``escalation``, a more urgent entry's timeout and time on a level are no
   longer than a less urgent one's.
3. With ``escalation_policies``, an urgency without its own policy borrows one
   (:func:`lender`): the nearest more urgent urgency's, levels and pace; else the
   nearest less urgent one's levels, at the urgency's own ``escalation`` pace. Level
   by level, what a more urgent urgency pages with is no slower than what a less
   urgent one pages with (levels that only one of them has are not compared).

So no urgency ever borrows a slower pace, and runtime borrowing needs no fallback.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Protocol

from engine.domain.problems import Loc, Problem
from engine.domain.schedule import SchedulePolicy
from engine.schemas.intake import Urgency

__all__ = ["Paced", "lender", "pace_problems"]

_MOST_URGENT_FIRST = sorted(Urgency, key=lambda u: -u.rank)
_RULE = "a more urgent message must never wait longer"


class Paced(Protocol):
    """Anything with a pace: an ``EscalationPolicy`` or a ``PolicyLevel``."""

    @property
    def ack_timeout_seconds(self) -> float: ...

    @property
    def repeats(self) -> int: ...


def lender(policies: Collection[Urgency], urgency: Urgency) -> Urgency | None:
    """Whose schedule policy ``urgency`` pages with: its own, else the nearest more
    urgent urgency's, else the nearest less urgent one's; None when none has one."""
    order = sorted(Urgency, key=lambda u: (u.rank < urgency.rank, abs(u.rank - urgency.rank)))
    return next((u for u in order if u in policies), None)


def _level_seconds(pace: Paced) -> float:
    return pace.ack_timeout_seconds * (1 + pace.repeats)


def _slower(faster: Paced, slower: Paced) -> tuple[str, float, float] | None:
    """Which field makes ``faster`` slower than ``slower``, with both values; or None."""
    if faster.ack_timeout_seconds > slower.ack_timeout_seconds:
        return "ack_timeout_seconds", faster.ack_timeout_seconds, slower.ack_timeout_seconds
    if _level_seconds(faster) > _level_seconds(slower):
        return "repeats", _level_seconds(faster), _level_seconds(slower)
    return None


def _describe(field: str, mine: float, theirs: float, whose: str) -> str:
    if field == "ack_timeout_seconds":
        return f"waits {mine:g} s for an acknowledgement, longer than {whose} ({theirs:g} s)"
    return f"stays {mine:g} s on a level with its re-pages, longer than {whose} ({theirs:g} s)"


def pace_problems(
    escalation: Mapping[Urgency, Paced], policies: Mapping[Urgency, SchedulePolicy]
) -> list[Problem]:
    """Every breach of the rule above, located relative to the practice."""
    problems: dict[tuple[Loc, Urgency | None], Problem] = {}  # first breach per place
    missing = [u.value for u in _MOST_URGENT_FIRST if u not in escalation]
    if missing:
        text = (
            f"must define every urgency (missing: {', '.join(missing)}); "
            "leave escalation out to use the defaults"
        )
        problems[(("escalation",), None)] = (("escalation",), text)
    for more, less in _pairs():
        found = more in escalation and less in escalation
        breach = _slower(escalation[more], escalation[less]) if found else None
        if breach is not None:
            field, mine, theirs = breach
            loc: Loc = ("escalation", more.value, field)
            text = f"{_describe(field, mine, theirs, less.value)}: {_RULE}"
            problems.setdefault((loc, more), (loc, text))
    for more, loc, text in _policy_problems(escalation, policies):
        problems.setdefault((loc, more), (loc, text))
    return list(problems.values())


def _pairs() -> Iterator[tuple[Urgency, Urgency]]:
    """(more urgent, less urgent), nearest pairs first."""
    pairs = combinations(_MOST_URGENT_FIRST, 2)
    return iter(sorted(pairs, key=lambda pair: pair[0].rank - pair[1].rank))


@dataclass(frozen=True)
class _Paging:
    """What one urgency pages with under ``escalation_policies``."""

    urgency: Urgency
    source: Urgency  # whose policy lends the levels
    paces: tuple[Paced, ...]  # one per clinician level

    @property
    def own_levels(self) -> bool:
        return self.source == self.urgency

    @property
    def on_escalation_pace(self) -> bool:  # borrowed a less urgent policy's levels only
        return self.source.rank < self.urgency.rank


def _paging(
    escalation: Mapping[Urgency, Paced], policies: Mapping[Urgency, SchedulePolicy]
) -> Iterator[_Paging]:
    for urgency in Urgency:
        source = lender(policies, urgency)
        if source is None:
            return
        levels = _clinician_levels(policies[source])
        if source.rank >= urgency.rank:
            yield _Paging(urgency, source, levels)
        elif urgency in escalation:
            yield _Paging(urgency, source, (escalation[urgency],) * len(levels))


def _clinician_levels(policy: SchedulePolicy) -> tuple[Paced, ...]:
    """The levels before the first one that pages the operator desk."""
    levels: list[Paced] = []
    for level in policy.levels:
        if any(target.kind == "operator" for target in level.targets):
            break
        levels.append(level)
    return tuple(levels)


def _policy_problems(
    escalation: Mapping[Urgency, Paced], policies: Mapping[Urgency, SchedulePolicy]
) -> Iterator[tuple[Urgency, Loc, str]]:
    """(the urgency at fault, where, what) for each pair of urgencies out of order."""
    paging = {p.urgency: p for p in _paging(escalation, policies)}
    for more, less in _pairs():
        a, b = paging.get(more), paging.get(less)
        # a borrowed-up urgency repeats its lender's pairs; two urgencies on the
        # escalation pace were compared above
        if a is None or b is None or not b.own_levels:
            continue
        if not (a.own_levels or a.on_escalation_pace):
            continue
        for index, (mine, theirs) in enumerate(zip(a.paces, b.paces, strict=False)):
            breach = _slower(mine, theirs)
            if breach is None:
                continue
            field, slow, fast = breach
            whose = f"{less.value}'s level {index + 1}"
            if a.own_levels:
                loc: Loc = ("escalation_policies", more.value, "levels", index, field)
                yield more, loc, f"{_describe(field, slow, fast, whose)}: {_RULE}"
            else:
                text = (
                    f"{more.value} has no policy, so it pages {a.source.value}'s levels at "
                    f"escalation.{more.value}'s pace, which "
                    f"{_describe(field, slow, fast, whose)}; give {more.value} its own "
                    f"policy or a faster escalation.{more.value} ({_RULE})"
                )
                yield more, ("escalation_policies",), text
            break  # the first slower level is enough to act on
