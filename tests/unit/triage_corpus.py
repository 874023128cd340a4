"""The triage corpus: natural, synthetic messages labelled with their minimum urgency
(``tests/fixtures/triage/messages.txt``), and the intake event each one becomes.

Used by the corpus test and by ``bench/bench_triage.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.schemas.intake import CallerType, CallReason, IntakeEvent, Urgency
from tests.unit.practice_factories import event

__all__ = ["CORPUS", "CorpusMessage", "corpus_event", "load_corpus"]

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "triage" / "messages.txt"
# Corpus channel -> the event factory's kind.
_KINDS = {
    "sms": "sms",
    "chat": "chat",
    "email": "email",
    "web_form": "web",
    "voicemail": "voicemail",
    "voice_call": "voice",
}


@dataclass(frozen=True)
class CorpusMessage:
    """One labelled message and the line it is on."""

    line: int
    minimum: Urgency
    channel: str
    text: str


def load_corpus(path: Path = CORPUS) -> list[CorpusMessage]:
    """Every message of the corpus file (``URGENCY CHANNEL: text``; ``#`` comments)."""
    messages = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head, sep, text = line.partition(": ")
        label, _, channel = head.partition(" ")
        if not sep or label not in {u.value for u in Urgency} or channel not in _KINDS:
            raise ValueError(f"{path}:{number}: expected 'URGENCY CHANNEL: text'")
        messages.append(CorpusMessage(number, Urgency(label), channel, text))
    return messages


def corpus_event(message: CorpusMessage) -> IntakeEvent:
    """The message as a parent's intake event with a routine reason code (appointment),
    so that only its words can raise it."""
    return event(
        _KINDS[message.channel],
        reason=CallReason.APPOINTMENT,
        caller=CallerType.PARENT_GUARDIAN,
        message=message.text,
    )
