"""What an operator needs on screen for an incoming call, computed from the practice and
``now``: the greeting, whether the office is open, the call-handling rules, and the
on-call chain with names filled in ("Dr. Lee is on call now, then NP Chen").

Pure: no I/O, no clock of its own. Names come from the practice's clinician list (an
id without a name shows as the id); nothing here is PHI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from engine.domain.office_hours import is_open, next_opening
from engine.domain.oncall import resolve_chain
from engine.domain.practice import Practice
from engine.schemas.intake import Urgency

__all__ = ["ChainLevel", "DeskScript", "desk_script"]


@dataclass(frozen=True)
class ChainLevel:
    name: str
    people: tuple[str, ...]  # display names, in paging order
    timeout_seconds: float | None  # None: the desk re-alerts on the deployment's timer
    repeats: int | None
    operator_desk: bool


@dataclass(frozen=True)
class DeskScript:
    practice_id: str
    practice_name: str
    greeting: str
    local_time: str
    office_open: bool
    next_opening: datetime | None
    chain: tuple[ChainLevel, ...]
    on_call_line: str
    reason_urgency: dict[str, str]
    caller_type_minimum: dict[str, str]
    live_transfer_urgencies: tuple[str, ...]


def desk_script(practice: Practice, now: datetime, urgency: Urgency = Urgency.URGENT) -> DeskScript:
    """The script for a call to ``practice`` at ``now`` (timezone-aware)."""
    zone = ZoneInfo(practice.timezone)
    names = {c.clinician_id: c.display_name for c in practice.clinicians}
    chain = resolve_chain(practice, now, urgency)
    default = practice.escalation.get(urgency)
    levels = tuple(
        ChainLevel(
            name=level.name,
            people=tuple(names.get(p, p) for p in level.targets) if not level.is_operator else (),
            timeout_seconds=None
            if level.is_operator
            else level.ack_timeout_seconds or (default.ack_timeout_seconds if default else None),
            repeats=None
            if level.is_operator
            else level.repeats
            if level.repeats is not None
            else (default.repeats if default else None),
            operator_desk=level.is_operator,
        )
        for level in chain.levels
    )
    open_now = is_open(practice.office_hours, zone, now)
    return DeskScript(
        practice_id=practice.practice_id,
        practice_name=practice.name,
        greeting=(
            f"Thank you for calling {practice.name}. "
            + ("The office is open." if open_now else "You have reached the after-hours line.")
        ),
        local_time=now.astimezone(zone).strftime("%a %d %b %Y %H:%M %Z"),
        office_open=open_now,
        next_opening=None if open_now else next_opening(practice.office_hours, zone, now),
        chain=levels,
        on_call_line=on_call_line(levels),
        reason_urgency={str(k): str(v) for k, v in practice.triage.reason_urgency.items()},
        caller_type_minimum={
            str(k): str(v) for k, v in practice.triage.caller_type_minimum.items()
        },
        live_transfer_urgencies=tuple(str(u) for u in practice.triage.live_transfer_urgencies),
    )


def on_call_line(levels: tuple[ChainLevel, ...]) -> str:
    """``"Dr. Lee is on call now, then NP Chen, then the operator desk."``"""
    people = [", ".join(level.people) for level in levels if not level.operator_desk]
    if not people:
        return "Nobody is on call now: the operator desk handles every call."
    rest = "".join(f", then {p}" for p in people[1:])
    verb = "is" if len(levels[0].people) == 1 else "are"
    return f"{people[0]} {verb} on call now{rest}, then the operator desk."
