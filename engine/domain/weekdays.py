"""Days of the week as practices write them in their files."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Weekday"]


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def index(self) -> int:  # type: ignore[override]  # str.index is not used on weekdays
        """Monday is 0, as in ``datetime.weekday()``."""
        return list(Weekday).index(self)
