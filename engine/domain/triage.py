"""Triage: how urgent an intake event is under a practice's rules, and what to do with it.

Urgency is the highest any applicable rule gives; rules only ever raise it:

* the reason code (``reason_urgency``; reasons missing from the map count as urgent),
* the caller type's minimum (``caller_type_minimum``),
* the red-flag lexicon (``red_flags.yaml``), which every practice gets: word-form
  phrase matches in the message (and an e-mail's subject), such as "she had two
  seizures" or "my chest is painful"; one entry also reads the patient's age from
  ``patient.date_of_birth``. A practice may move an entry between urgent and
  emergency (``red_flag_urgency``), never below urgent,
* the practice's own emergency / urgent keywords, matched the same way,
* the operator's urgency and the caller's requested urgency, when the practice
  honours them.

Emergencies and urgent messages are never held: they are dispatched to the on-call
chain, or patched through live when the caller is waiting on a voice call. Routine
messages go to the office when it is open and are held until it opens otherwise.
Office hours are judged at ``now``, the processing time, not ``event.received_at``:
a routine message that arrives late (a backlog, a retry) must not be delivered to an
office that has since closed, and ``now`` is what the release timer runs against.

``TriageResult.reasons`` holds rule ids only ("reason:symptoms", "red_flag:seizure",
"keyword:urgent"), never message or keyword text, which could be PHI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from engine.domain.office_hours import is_open, next_opening
from engine.domain.practice import Practice, TriageRules
from engine.domain.red_flags import PATIENT_UNDER_90_DAYS, default_lexicon, practice_keywords
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


def _texts(event: IntakeEvent) -> tuple[str, ...]:
    if isinstance(event, EmailMessage):
        return (event.subject, event.message)
    return (event.message,)


def _facts(event: IntakeEvent) -> frozenset[str]:
    """What the event says about the patient, for lexicon entries that use it."""
    born = event.patient.date_of_birth if event.patient is not None else None
    if born is not None and (event.received_at.date() - born).days < 90:
        return frozenset({PATIENT_UNDER_90_DAYS})  # a birth date after the call counts too
    return frozenset()


def classify(event: IntakeEvent, rules: TriageRules) -> tuple[Urgency, tuple[str, ...]]:
    """The event's urgency and the ids of the rules that applied, in a fixed order."""
    found: list[tuple[str, Urgency]] = [
        (f"reason:{event.reason.value}", rules.reason_urgency.get(event.reason, Urgency.URGENT))
    ]
    if event.caller.type in rules.caller_type_minimum:
        found.append(
            (f"caller:{event.caller.type.value}", rules.caller_type_minimum[event.caller.type])
        )
    lexicon = default_lexicon()
    words = lexicon.words(_texts(event))
    for flag in lexicon.match(words, _facts(event)):
        found.append((flag.rule_id, rules.red_flag_urgency.get(flag.rule, flag.urgency)))
    keywords = practice_keywords(tuple(rules.emergency_keywords), tuple(rules.urgent_keywords))
    emergency, urgent = keywords.match(words) if keywords is not None else (False, False)
    if emergency:
        found.append(("keyword:emergency", Urgency.EMERGENCY))
    if urgent:
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
