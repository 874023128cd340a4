"""The red-flag lexicon: the packaged ``red_flags.yaml``, validated, compiled once and
matched against a message's words.

An entry fires when each of its groups has a phrase in the message (or a fact about
the patient that stands for the group, such as an age under 90 days). Words inside an
entry's ``unless`` phrases do not count for it ("seizure medication"). Urgent entries
do not fire on negated words ("no fever"); emergency entries always do.

:func:`default_lexicon` loads the file once per process; practice keywords compile
against the same vocabulary (:func:`practice_keywords`, cached per keyword lists).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.domain.phrases import Phrase, PhraseIndex, Span
from engine.domain.words import Vocabulary, Words
from engine.schemas.intake import Urgency

__all__ = [
    "PATIENT_UNDER_90_DAYS",
    "Keywords",
    "Lexicon",
    "RedFlag",
    "default_lexicon",
    "practice_keywords",
]

PATIENT_UNDER_90_DAYS = "patient_under_90_days"
UNLESS_GAP = 1
_MAX_FILLERS = 3


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _OwnGap(_Strict):
    """A phrase with its own gap (0: words next to each other)."""

    phrase: str
    gap: int = Field(ge=0, le=10)


_PhraseItem = str | _OwnGap


class _Group(_Strict):
    phrases: list[_PhraseItem] = Field(min_length=1)
    gap: int = Field(default=3, ge=0, le=10)
    fact: Literal["patient_under_90_days"] | None = None

    def compiled(self) -> list[tuple[str, int]]:
        """Each phrase with the gap it is matched with."""
        return [(p, self.gap) if isinstance(p, str) else (p.phrase, p.gap) for p in self.phrases]


class _Entry(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    urgency: Literal[Urgency.URGENT, Urgency.EMERGENCY]
    means: str = Field(min_length=1)
    phrases: list[_PhraseItem] = Field(default_factory=list)
    gap: int = Field(default=3, ge=0, le=10)
    all_of: list[_Group] = Field(default_factory=list)
    unless: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_form(self) -> _Entry:
        if bool(self.phrases) == bool(self.all_of):
            raise ValueError(f"red flag {self.id}: give either phrases or all_of")
        return self

    def groups(self) -> list[_Group]:
        if self.all_of:
            return self.all_of
        return [_Group(phrases=self.phrases, gap=self.gap)]


class _Negation(_Strict):
    before: list[str]
    fillers: list[str]
    after: list[str]


class _LexiconFile(_Strict):
    version: Literal[1]
    negation: _Negation
    spellings: dict[str, str]
    near: list[str] = Field(default_factory=list)
    shared: dict[str, Any] = Field(default_factory=dict, description="YAML anchors only.")
    red_flags: list[_Entry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> _LexiconFile:
        ids = [entry.id for entry in self.red_flags]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate red flag ids: {', '.join(duplicates)}")
        return self


@dataclass(frozen=True)
class RedFlag:
    """One lexicon entry as triage reports it: ``red_flag:<rule>``."""

    rule: str
    urgency: Urgency
    means: str

    @property
    def rule_id(self) -> str:
        return f"red_flag:{self.rule}"


@dataclass(frozen=True)
class _Owner:
    entry: int
    group: int  # -1 for an ``unless`` phrase


class Lexicon:
    """A compiled lexicon: one phrase index over every entry's phrases."""

    def __init__(self, source: _LexiconFile) -> None:
        self.vocabulary = Vocabulary(source.spellings, source.near)
        self.flags = tuple(RedFlag(e.id, Urgency(e.urgency), e.means) for e in source.red_flags)
        self._negatable = tuple(flag.urgency is Urgency.URGENT for flag in self.flags)
        self._group_counts = tuple(len(e.groups()) for e in source.red_flags)
        self._fact_groups: list[tuple[str, int, int]] = []
        self._pids: dict[Phrase, int] = {}  # a shared group (YAML anchor) is matched once
        self._owners: list[list[_Owner]] = []
        for entry_no, entry in enumerate(source.red_flags):
            for group_no, group in enumerate(entry.groups()):
                if group.fact is not None:
                    self._fact_groups.append((group.fact, entry_no, group_no))
                for text, gap in group.compiled():
                    self._add(text, gap, _Owner(entry_no, group_no))
            for text in entry.unless:
                self._add(text, UNLESS_GAP, _Owner(entry_no, -1))
        self._index = PhraseIndex(list(self._pids))
        self._unless_pids = frozenset(
            pid for pid, owners in enumerate(self._owners) if any(o.group < 0 for o in owners)
        )
        negation = source.negation
        self._negators = self._stems(negation.before)
        self._fillers = self._stems(negation.fillers)
        self._after = self._stems(negation.after)

    def words(self, texts: Iterable[str]) -> Words:
        """The words of several texts (subject, body), each starting a new sentence."""
        parts = [self.vocabulary.words(text) for text in texts]
        result = parts[0] if parts else Words((), ())
        for part in parts[1:]:
            result = result + part
        return result

    def match(self, words: Words, facts: frozenset[str] = frozenset()) -> list[RedFlag]:
        """The entries that fire, in lexicon order."""
        found = self._index.spans(words)
        excluded: dict[int, list[Span]] = {}
        for pid in self._unless_pids.intersection(found):
            for owner in self._owners[pid]:
                if owner.group < 0:
                    excluded.setdefault(owner.entry, []).extend(found[pid])
        satisfied: dict[int, set[int]] = {}
        for fact, entry_no, group_no in self._fact_groups if facts else ():
            if fact in facts:
                satisfied.setdefault(entry_no, set()).add(group_no)
        for pid, spans in found.items():
            for owner in self._owners[pid]:
                if owner.group >= 0 and any(
                    self._counts(words, span, owner.entry, excluded) for span in spans
                ):
                    satisfied.setdefault(owner.entry, set()).add(owner.group)
        return [
            self.flags[entry_no]
            for entry_no in sorted(satisfied)
            if len(satisfied[entry_no]) == self._group_counts[entry_no]
        ]

    def _counts(
        self, words: Words, span: Span, entry: int, excluded: dict[int, list[Span]]
    ) -> bool:
        first, last = span
        if any(a <= last and first <= b for a, b in excluded.get(entry, ())):
            return False
        return not (self._negatable[entry] and self._negated(words, span))

    def _negated(self, words: Words, span: Span) -> bool:
        stems, sentences = words.stems, words.sentences
        first, last = span
        after = last + 1
        if (
            after < len(stems)
            and sentences[after] == sentences[last]
            and stems[after] in self._after
        ):
            return True
        at = first - 1
        while at >= 0 and sentences[at] == sentences[first] and first - at <= _MAX_FILLERS + 1:
            if stems[at] in self._negators:
                return True
            if stems[at] not in self._fillers:
                return False
            at -= 1
        return False

    def _add(self, text: str, gap: int, owner: _Owner) -> None:
        phrase = Phrase.parse(text, self.vocabulary, gap)
        if phrase is None:
            raise ValueError(f"red flag phrase {text!r} has no words")
        pid = self._pids.setdefault(phrase, len(self._pids))
        if pid == len(self._owners):
            self._owners.append([])
        self._owners[pid].append(owner)

    def _stems(self, words: list[str]) -> frozenset[str]:
        return frozenset(s for w in words for s in self.vocabulary.stems(w.lower()))


def load_lexicon(text: str) -> Lexicon:
    """Validate and compile a lexicon in the ``red_flags.yaml`` format."""
    return Lexicon(_LexiconFile.model_validate(yaml.safe_load(text)))


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The packaged lexicon, loaded and compiled once per process."""
    return load_lexicon(files("engine.domain").joinpath("red_flags.yaml").read_text("utf-8"))


@dataclass(frozen=True)
class Keywords:
    """A practice's emergency and urgent keywords, compiled together."""

    index: PhraseIndex
    emergency_count: int  # phrases [0, emergency_count) are the emergency ones

    def match(self, words: Words) -> tuple[bool, bool]:
        """Whether an emergency keyword and whether an urgent keyword occurs."""
        found = self.index.spans(words)
        emergency = any(pid < self.emergency_count for pid in found)
        return emergency, any(pid >= self.emergency_count for pid in found)


@lru_cache(maxsize=1024)
def practice_keywords(emergency: tuple[str, ...], urgent: tuple[str, ...]) -> Keywords | None:
    """A practice's keywords, compiled with the lexicon's vocabulary (None when all blank).

    Raises :class:`~engine.domain.phrases.PhraseSyntaxError` for a malformed phrase.
    """
    vocabulary = default_lexicon().vocabulary
    first = [p for p in (Phrase.parse(t, vocabulary, gap=3) for t in emergency) if p is not None]
    then = [p for p in (Phrase.parse(t, vocabulary, gap=3) for t in urgent) if p is not None]
    return Keywords(PhraseIndex(first + then), len(first)) if first or then else None
