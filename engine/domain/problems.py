"""Validation problems at a precise place inside a model.

A model validator that checks several fields together (say, the pace of every
urgency's escalation) can only raise one error at the model itself. These helpers
raise every problem at once, each at its own location below the model
(``("escalation", "emergency", "ack_timeout_seconds")``); pydantic prefixes the
locations of enclosing models, so a practice file error names its line.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = ["Loc", "Problem", "raise_problems"]

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]
"""Where (relative to the model being validated) and what."""


def raise_problems(model: str, problems: list[Problem]) -> None:
    """Raise a :class:`ValidationError` with one ``invalid_configuration`` error per
    problem; return quietly when there are none. Messages name fields, never values
    from an intake event (there are none in configuration)."""
    if not problems:
        return
    raise ValidationError.from_exception_data(
        model,
        [
            InitErrorDetails(
                type=PydanticCustomError("invalid_configuration", "{detail}", {"detail": text}),
                loc=loc,
                input=None,
            )
            for loc, text in problems
        ],
    )
