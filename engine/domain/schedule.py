"""On-call schedules and escalation policies as practices run them (the model).

A practice has coverage groups ("Pediatrics after hours", "OB", "Hospital
calls"). Each group has, per coverage role (primary, backup), layers of
rotations (higher layers win where they cover), and overrides on top. A
practice's escalation policy per urgency is a list of levels, each targeting a
role of a group, a named clinician, a whole group, or the operator desk. The
last level is always a human at the answering service.

Plain validated data; resolution lives in ``engine.domain.schedule_resolution``.
"""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.domain.problems import Problem, raise_problems
from engine.domain.weekdays import Weekday
from engine.schemas._base import AwareDatetime, Identifier

__all__ = [
    "Clinician",
    "ClinicianRole",
    "CoverageGroup",
    "CoverageRole",
    "Layer",
    "LevelTarget",
    "Override",
    "OverrideKind",
    "PolicyLevel",
    "Restriction",
    "SchedulePolicy",
    "ShiftUnit",
    "StopCondition",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClinicianRole(StrEnum):
    PHYSICIAN = "physician"
    NURSE_PRACTITIONER = "nurse_practitioner"
    NURSE = "nurse"
    ADMIN = "admin"


class Clinician(_Model):
    """A person who can be paged; may belong to several practices."""

    clinician_id: Identifier
    display_name: str = Field(min_length=1, max_length=200)
    role: ClinicianRole = ClinicianRole.PHYSICIAN
    practices: list[Identifier] = Field(default_factory=list)


class CoverageRole(StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"  # second call


class ShiftUnit(StrEnum):
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


class Restriction(_Model):
    """A weekly window in local wall-clock time, starting on each listed day.

    ``end <= start`` crosses midnight, so a window lasts at most 24 hours:
    weeknights are days mon-thu 17:00-08:00; a weekend is several windows
    (fri 17:00-08:00, then sat and sun 08:00-08:00).
    """

    # The window ends the same day when end > start, else the next day (end == start:
    # a full 24 hours). A window lasts at most a day, so a longer block takes several
    # that abut: Saturday 08:00 to Monday 08:00 is days sat, sun 08:00-08:00.

    days: list[Weekday] = Field(min_length=1)
    start: time
    end: time


class Layer(_Model):
    """A rotation: participants take turns in order, each for one shift.

    Shift k starts at local ``handoff_time`` on ``start_date`` plus k shift
    lengths (wall-clock arithmetic, so an 08:00 handoff stays at 08:00 across
    DST). With restrictions, the layer covers only inside those windows.
    """

    # The layer covers from its first handoff (before it: not at all) to handoff_time
    # on the day after end_date, so a layer ending on the 30th hands over to one
    # starting on the 1st without a gap. (Comments, not docstrings: docstrings are
    # descriptions in the committed practices JSON schema.)

    layer_id: Identifier
    name: str = Field(default="", max_length=200)
    role: CoverageRole = CoverageRole.PRIMARY
    participants: list[Identifier] = Field(min_length=1)
    shift_length: int = Field(ge=1, le=10_000)
    shift_unit: ShiftUnit = ShiftUnit.DAYS
    handoff_time: time = time(8, 0)
    start_date: date
    end_date: date | None = Field(default=None, description="Last local day of the layer.")
    restrictions: list[Restriction] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dates_ordered(self) -> Layer:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(
                f"layer end_date {self.end_date} is before its start_date {self.start_date}"
            )
        return self


class OverrideKind(StrEnum):
    REPLACE = "replace"  # ``clinician_id`` instead of whoever is on call
    ADD = "add"  # ``clinician_id`` as well
    REMOVE = "remove"  # ``clinician_id`` is not on call (vacation, sick)


class Override(_Model):
    """A change on top of the layers for one interval (half-open)."""

    override_id: Identifier
    role: CoverageRole = CoverageRole.PRIMARY
    kind: OverrideKind = OverrideKind.REPLACE
    clinician_id: Identifier
    start: AwareDatetime
    end: AwareDatetime
    note: str = Field(default="", max_length=300)

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.end <= self.start:
            raise ValueError("override end must be after its start")
        return self


class CoverageGroup(_Model):
    group_id: Identifier
    name: str = Field(min_length=1, max_length=200)
    layers: list[Layer] = Field(default_factory=list, description="Later layers win.")
    overrides: list[Override] = Field(default_factory=list)


class LevelTarget(_Model):
    """Who a level pages."""

    kind: Literal["role", "clinician", "group", "operator"]
    group_id: Identifier | None = None  # role, group (None: the practice's default group)
    role: CoverageRole | None = None  # role
    clinician_id: Identifier | None = None  # clinician

    @model_validator(mode="after")
    def _complete(self) -> LevelTarget:
        if self.kind == "role" and self.role is None:
            raise ValueError("a 'role' target needs role (primary or backup)")
        if self.kind == "clinician" and self.clinician_id is None:
            raise ValueError("a 'clinician' target needs clinician_id")
        return self


class StopCondition(StrEnum):
    ACCEPTED = "accepted"
    READ = "read"  # legacy: a read never ends a dispatch; it pauses re-paging for a timeout


class PolicyLevel(_Model):
    name: str = Field(default="", max_length=60)
    targets: list[LevelTarget] = Field(min_length=1)
    ack_timeout_seconds: float = Field(gt=0, le=24 * 3600, description="Sub-minute allowed.")
    repeats: int = Field(default=0, ge=0, le=10, description="Re-pages of this level.")


class SchedulePolicy(_Model):
    """An escalation policy: ordered levels; the operator desk always ends it."""

    levels: list[PolicyLevel] = Field(min_length=1)
    stop_on: StopCondition = Field(
        default=StopCondition.ACCEPTED,
        description="Only acceptance (or a desk operator's claim) ends a dispatch. 'read' is "
        "kept for old files: a read then pauses re-paging for one ack timeout.",
    )
    read_grace_seconds: float | None = Field(
        default=None,
        ge=0,
        le=3600,
        description="How long a clinician's read pauses re-paging of that page (default: 0, "
        "or one ack timeout under stop_on: read). The escalation resumes after it.",
    )

    @model_validator(mode="after")
    def _desk_last_and_alone(self) -> SchedulePolicy:
        # the chain stops at the first level naming the desk (and appends the desk
        # anyway): a desk level before others, or clinicians beside the desk, would
        # silently never be paged
        problems: list[Problem] = []
        last = len(self.levels) - 1
        for n, level in enumerate(self.levels):
            kinds = [target.kind for target in level.targets]
            if "operator" not in kinds:
                continue
            for i, kind in enumerate(kinds):
                where = ("levels", n, "targets", i)
                if kind == "operator" and n < last:
                    problems.append((where, "the operator desk may only be the last level"))
                elif kind != "operator":
                    problems.append((where, "a level with the operator desk pages only the desk"))
        raise_problems("SchedulePolicy", problems)
        return self
