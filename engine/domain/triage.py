"""Triage: how urgent an intake event is under a practice's rules, and what to do with it.

Urgency is the highest any applicable rule gives; rules only ever raise it:

* the reason code (``reason_urgency``; reasons missing from the map count as urgent),
* the caller type's minimum (``caller_type_minimum``),
* emergency / urgent keywords: case-insensitive whole-phrase matches in the message
  (and an e-mail's subject), bounded by non-word characters ("pain" is not in "Spain"),
* the operator's urgency and the caller's requested urgency, when the practice
  honours them.

Emergencies and urgent messages are never held: they are dispatched to the on-call
chain, or patched through live when the caller is waiting on a voice call. Routine
messages go to the office when it is open and are held until it opens otherwise.
Office hours are judged at ``now``, the processing time, not ``event.received_at``:
a routine message that arrives late (a backlog, a retry) must not be delivered to an
office that has since closed, and ``now`` is what the release timer runs against.

``TriageResult.reasons`` holds rule ids only ("reason:symptoms", "keyword:urgent"),
never message or keyword text, which could be PHI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache

from engine.domain.office_hours import is_open, next_opening
from engine.domain.practice import Practice, TriageRules
from engine.schemas.intake import EmailMessage, IntakeEvent, Urgency, VoiceCall

__all__ = ["TriageAction", "TriageResult", "classify", "triage"]


class TriageAction(StrEnum):
    """What happens to a triaged message."""

    DISPATCH = "dispatch"
    LIVE_TRANSFER = "live_transfer"
    HOLD_FOR_OFFICE = "hold_for_office"
    DELIVER_TO_OFFICE = "deliver_to_office"


@dataclass(frozen=True)
class TriageResult:
    """The decision for one event; ``release_at`` is set for office delivery and holds."""

    urgency: Urgency
    action: TriageAction
    reasons: tuple[str, ...]
    release_at: datetime | None = None


@lru_cache(maxsize=256)
def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex matching any of the phrases as a whole phrase (blank phrases ignored)."""
    parts = [r"\s+".join(map(re.escape, p.split())) for p in phrases if p.strip()]
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def _mentions(phrases: list[str], texts: tuple[str, ...]) -> bool:
    pattern = _pattern(tuple(phrases))
    return pattern is not None and any(pattern.search(text) for text in texts)


def _texts(event: IntakeEvent) -> tuple[str, ...]:
    if isinstance(event, EmailMessage):
        return (event.subject, event.message)
    return (event.message,)


def classify(event: IntakeEvent, rules: TriageRules) -> tuple[Urgency, tuple[str, ...]]:
    """The event's urgency and the ids of the rules that applied, in a fixed order."""
    found: list[tuple[str, Urgency]] = [
        (f"reason:{event.reason.value}", rules.reason_urgency.get(event.reason, Urgency.URGENT))
    ]
    if event.caller.type in rules.caller_type_minimum:
        found.append(
            (f"caller:{event.caller.type.value}", rules.caller_type_minimum[event.caller.type])
        )
    texts = _texts(event)
    if _mentions(rules.emergency_keywords, texts):
        found.append(("keyword:emergency", Urgency.EMERGENCY))
    if _mentions(rules.urgent_keywords, texts):
        found.append(("keyword:urgent", Urgency.URGENT))
    if rules.honour_operator_urgency and event.operator_urgency is not None:
        found.append(("operator", event.operator_urgency))
    if rules.honour_caller_requested_urgency and event.caller_requested_urgency is not None:
        found.append(("caller_requested", event.caller_requested_urgency))
    urgency = max((u for _, u in found), key=lambda u: u.rank)
    return urgency, tuple(rule for rule, _ in found)


def _live_transfer(event: IntakeEvent, urgency: Urgency, rules: TriageRules) -> bool:
    if not (isinstance(event, VoiceCall) and event.caller_on_hold):
        return False
    if urgency in rules.live_transfer_urgencies:
        return True
    return (
        event.caller.type in rules.live_transfer_caller_types
        and urgency.rank >= Urgency.URGENT.rank
    )


def triage(event: IntakeEvent, practice: Practice, now: datetime) -> TriageResult:
    """Classify ``event`` under ``practice``'s rules and decide what to do with it at ``now``."""
    urgency, reasons = classify(event, practice.triage)
    if urgency.rank >= Urgency.URGENT.rank:
        live = _live_transfer(event, urgency, practice.triage)
        action = TriageAction.LIVE_TRANSFER if live else TriageAction.DISPATCH
        return TriageResult(urgency, action, reasons)
    hours, zone = practice.office_hours, practice.zone
    if is_open(hours, zone, now):
        return TriageResult(urgency, TriageAction.DELIVER_TO_OFFICE, (*reasons, "office_open"), now)
    opening = next_opening(hours, zone, now)
    if opening is None:
        return TriageResult(urgency, TriageAction.DISPATCH, (*reasons, "never_opens"))
    return TriageResult(urgency, TriageAction.HOLD_FOR_OFFICE, (*reasons, "after_hours"), opening)
