"""Phrase matching for triage: a phrase matches when its words occur close together
in a message, as word stems (engine/domain/words.py), so word forms, contractions and
misspellings match too and are written in plain words.

Phrase syntax (one phrase per string):

* ``chest pain``: the words in this order, with at most ``gap`` other words between
  neighbours ("chest is painful").
* ``chest + pain``: all parts in any order, within the same window ("pain in my chest").
* ``pain|hurt|ache``: any of these words at this place.
* ``{1-12}``: a number from 1 to 12 (decimals allowed: ``{38-43}``).

A match never crosses a sentence end. Matching is by whole words only: "pain" is not
in "Spain", "fit" not in "outfit".
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from engine.domain.words import Vocabulary, Words, words_of

__all__ = ["Phrase", "PhraseIndex", "PhraseSyntaxError", "Span"]

Span = tuple[int, int]
"""First and last word position of one match."""

_RANGE = re.compile(r"^\{(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\}$")
# Stems too frequent in messages to make a phrase a candidate by themselves (speed only).
_FREQUENT_WORDS = (
    "a an the is was are were be been of to in on at for and or i he she it my his her "
    "have has had not no can will do up out get got so veri realli with from by me him"
)
_FREQUENT = frozenset(_FREQUENT_WORDS.split())


class PhraseSyntaxError(ValueError):
    """A phrase that cannot be compiled; the message quotes the phrase, never a message."""


Term = frozenset[str] | tuple[float, float]
"""Stems allowed at one place of a phrase, or an inclusive number range."""


@dataclass(frozen=True)
class Phrase:
    """A compiled phrase: its terms, whether their order matters, the largest gap."""

    terms: tuple[Term, ...]
    ordered: bool
    gap: int

    @classmethod
    def parse(cls, text: str, vocabulary: Vocabulary, gap: int) -> Phrase | None:
        """Compile ``text``; None when it has no words (blank phrases are ignored)."""
        parts = text.split("+")
        if len(parts) > 1:
            terms = [_term(part, vocabulary, text) for part in parts]
            if any(t is None for t in terms):
                raise PhraseSyntaxError(f"phrase {text!r}: every part around '+' needs a word")
            return cls(tuple(t for t in terms if t is not None), ordered=False, gap=gap)
        ordered: list[Term] = []
        for place in text.split():
            if "|" in place or _RANGE.match(place):
                term = _term(place, vocabulary, text)
                ordered += [term] if term is not None else []
            else:
                ordered += [frozenset((s,)) for w in words_of(place) for s in vocabulary.stems(w)]
        return cls(tuple(ordered), ordered=True, gap=gap) if ordered else None


def _term(text: str, vocabulary: Vocabulary, phrase: str) -> Term | None:
    text = text.strip()
    bounds = _RANGE.match(text)
    if bounds:
        low, high = float(bounds.group(1)), float(bounds.group(2))
        if low > high:
            raise PhraseSyntaxError(f"phrase {phrase!r}: empty number range {text}")
        return (low, high)
    stems: set[str] = set()
    for alternative in text.split("|"):
        words = [s for w in words_of(alternative) for s in vocabulary.stems(w)]
        if len(words) > 1:
            raise PhraseSyntaxError(
                f"phrase {phrase!r}: {alternative.strip()!r} must be one word here"
            )
        stems.update(words)
    return frozenset(stems) if stems else None


class PhraseIndex:
    """Many phrases, matched together in one pass over a text's words.

    A one-word phrase matches wherever one of its stems occurs. A longer phrase is filed
    under the stems of its rarest term, so a frequent word such as "not" or "a" makes
    no phrase a candidate by itself; a phrase whose words are all frequent and that has
    a number range is a candidate when the text has a number.
    """

    def __init__(self, phrases: Sequence[Phrase]) -> None:
        self.phrases = tuple(phrases)
        uses = Counter(
            s for p in self.phrases for t in p.terms if isinstance(t, frozenset) for s in t
        )
        single: dict[str, list[int]] = {}
        longer: dict[str, list[int]] = {}
        self._numeric: list[int] = []

        def cost(term: frozenset[str]) -> int:
            return sum(uses[s] + (1000 if s in _FREQUENT else 0) for s in term)

        for pid, phrase in enumerate(self.phrases):
            words = [t for t in phrase.terms if isinstance(t, frozenset)]
            anchor = min(words, key=cost) if words else None
            has_range = len(words) < len(phrase.terms)
            if anchor is None or (has_range and not anchor.isdisjoint(_FREQUENT)):
                self._numeric.append(pid)
                continue
            index = single if len(phrase.terms) == 1 else longer
            for stem in anchor:
                index.setdefault(stem, []).append(pid)
        # stem -> (one-word phrases it matches, longer phrases it makes candidates)
        self._by_stem = {
            stem: (tuple(single.get(stem, ())), tuple(longer.get(stem, ())))
            for stem in single.keys() | longer.keys()
        }

    def spans(self, words: Words) -> dict[int, list[Span]]:
        """Every phrase that matches, with the spans where it does."""
        where = words.positions
        matched: dict[int, list[Span]] = {}
        candidates: set[int] = set()
        numbers = False
        for stem, at in where.items():
            indexed = self._by_stem.get(stem)
            if indexed is not None:
                for pid in indexed[0]:
                    matched.setdefault(pid, []).extend((p, p) for p in at)
                candidates.update(indexed[1])
            numbers = numbers or stem[0].isdigit()
        if numbers:
            candidates.update(self._numeric)
        for pid in candidates:
            spans = self._match(pid, words)
            if spans:
                matched[pid] = spans
        return matched

    def _match(self, pid: int, words: Words) -> list[Span]:
        where = words.positions
        positions: list[list[int]] = []
        for term in self.phrases[pid].terms:
            if isinstance(term, tuple):
                low, high = term
                found = [
                    p
                    for s, ps in where.items()
                    if s[0].isdigit()
                    for p in ps
                    if low <= float(s) <= high
                ]
                found.sort()
            elif len(term) < len(where):
                found = sorted(p for stem in term for p in where.get(stem, ()))
            else:  # look the text's words up in the term
                found = sorted(p for stem, ps in where.items() if stem in term for p in ps)
            if not found:
                return []
            positions.append(found)
        return _spans(self.phrases[pid], positions, words.sentences)


def _spans(phrase: Phrase, positions: list[list[int]], sentences: Sequence[int]) -> list[Span]:
    """Where the phrase matches, given where each of its terms occurs (sorted)."""
    if len(positions) == 1:
        return [(p, p) for p in positions[0]]
    found: list[Span] = []
    if phrase.ordered:
        for start in positions[0]:
            end = _chain(start, positions, 1, phrase.gap, sentences)
            if end is not None:
                found.append((start, end))
        return found
    width = (len(positions) - 1) * (phrase.gap + 1)
    events = sorted((p, place) for place, ps in enumerate(positions) for p in ps)
    for first, (low, _) in enumerate(events):
        covered: set[int] = set()
        for position, place in events[first:]:
            if position - low > width or sentences[position] != sentences[low]:
                break
            covered.add(place)
            if len(covered) == len(positions):
                found.append((low, position))
                break
    return found


def _chain(
    at: int, positions: list[list[int]], place: int, gap: int, sentences: Sequence[int]
) -> int | None:
    """The end of an ordered match that continues from ``at`` with term ``place``."""
    if place == len(positions):
        return at
    candidates = positions[place]
    for nxt in candidates[bisect_right(candidates, at) :]:
        if nxt > at + gap + 1 or sentences[nxt] != sentences[at]:
            return None
        end = _chain(nxt, positions, place + 1, gap, sentences)
        if end is not None:
            return end
    return None
