"""Public holidays from the maintained ``holidays`` library (no hand-kept lists).

A practice names a calendar as ``COUNTRY`` or ``COUNTRY-SUBDIVISION`` (ISO 3166
codes as the library spells them: ``US-NY``, ``GB-ENG``). Pure: the library
computes dates from rules and ships its data.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

__all__ = ["holiday_calendar", "holidays_between", "is_public_holiday"]


@lru_cache(maxsize=256)
def holiday_calendar(code: str) -> holidays.HolidayBase:
    """The holiday calendar for ``code``; ``ValueError`` names what is supported."""
    country, _, subdivision = code.partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(f"unknown holiday calendar {code!r}: no country {country!r}")
    if subdivision and subdivision not in supported[country]:
        raise ValueError(
            f"unknown holiday calendar {code!r}: {country} subdivisions are "
            + ", ".join(supported[country][:20])
        )
    return holidays.country_holidays(country, subdiv=subdivision or None)


def is_public_holiday(code: str | None, day: date) -> bool:
    return code is not None and day in holiday_calendar(code)


def holidays_between(code: str, first: date, last: date) -> list[tuple[date, str]]:
    """The public holidays of ``code`` from ``first`` to ``last`` (both included), with
    their names, in date order."""
    calendar = holiday_calendar(code)
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [(day, str(calendar.get(day))) for day in days if day in calendar]
