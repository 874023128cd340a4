"""Practice definitions on the compacted ``practices`` topic.

Each record is the whole practice document at one revision, keyed by
``practice_id``; compaction keeps the latest, so a worker that reads the topic
from the beginning knows every practice. Carries no PHI: clinician ids and
names, schedules and policies only.
"""

from __future__ import annotations

from pydantic import Field

from engine.domain.practice import Practice
from engine.schemas._base import AwareDatetime, Event, Identifier

__all__ = ["PracticeDefinitionChanged"]


class PracticeDefinitionChanged(Event):
    """A practice was stored at a new revision (the full document)."""

    practice_id: Identifier
    revision: int = Field(ge=1, description="Equals practice.revision.")
    actor: Identifier = Field(description="Who stored it: an operator id or 'cli'.")
    changed_at: AwareDatetime
    practice: Practice
