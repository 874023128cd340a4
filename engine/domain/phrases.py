"""Word-form phrase matching for triage: messages and phrases become word stems, and a
phrase matches when its words occur close together.

Text is lower-cased and split into words, numbers and sentence ends (``.``, ``!``,
``?``, ``;`` not followed by a letter or digit: "c.diff" and "39.8" stay whole).
Contractions are expanded ("can't", "cant", "cannot" -> ``can not``; "he's" -> ``he``),
every word is reduced to its Snowball (Porter 2) stem by PyStemmer, so "seizures",
"seizing"; "painful"; "breathe", "breathing" match "seizure", "pain" and "breath",
and stems of misspellings and irregular forms are replaced from a spelling map
("seizer", "siezures", "threw", "bled"). Phrases go through the same steps, so they
are written in plain words.

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import Stemmer

__all__ = ["Phrase", "PhraseIndex", "PhraseSyntaxError", "Span", "Vocabulary", "Words"]

Span = tuple[int, int]
"""First and last word position of one match."""

_TOKEN = re.compile(r"(\d+(?:\.\d+)?)|([^\W\d_]+(?:'[^\W\d_]+)*)|([.!?;]+)(?![^\W_])")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_RANGE = re.compile(r"^\{(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\}$")
_CLITICS = frozenset({"s", "re", "ve", "ll", "d", "m"})
_NT_BASES = {"ca": "can", "wo": "will", "sha": "shall", "ai": "is"}
_AUXILIARIES = "is are was were do does did have has had could would should must need might"
# Contractions typed without the apostrophe ("couldnt", "cant", "wont").
_BARE_NT = {aux + "nt": (aux, "not") for aux in _AUXILIARIES.split(" ")} | {
    "cant": ("can", "not"),
    "cannot": ("can", "not"),
    "wont": ("will", "not"),
    "aint": ("is", "not"),
}
_CACHE_LIMIT = 20_000


class PhraseSyntaxError(ValueError):
    """A phrase that cannot be compiled; the message quotes the phrase, never a message."""


@dataclass(frozen=True)
class Words:
    """A text as stems, with the sentence each stem belongs to."""

    stems: tuple[str, ...]
    sentences: tuple[int, ...]

    def __add__(self, other: Words) -> Words:
        """Both texts, the second starting a new sentence (an e-mail's subject, then body)."""
        shift = self.sentences[-1] + 1 if self.sentences else 0
        return Words(
            self.stems + other.stems, self.sentences + tuple(s + shift for s in other.sentences)
        )


class Vocabulary:
    """Turns text into stems: contractions, the spelling map, then the English stemmer.

    The stems of each raw word are cached (bounded: cleared when full); PyStemmer keeps
    its own cache too.
    """

    def __init__(self, spellings: Mapping[str, str]) -> None:
        self._stemmer = Stemmer.Stemmer("english")
        self._spellings = {
            self._stemmer.stemWord(wrong.lower()): tuple(self._stemmer.stemWords(right.split()))
            for wrong, right in spellings.items()
        }
        self._cache: dict[str, tuple[str, ...]] = {}

    def words(self, text: str) -> Words:
        stems: list[str] = []
        sentences: list[int] = []
        sentence = 0
        for match in _TOKEN.finditer(text.lower().translate(_APOSTROPHES)):
            number, word, end = match.groups()
            if end is not None:
                sentence += 1
                continue
            forms = (number,) if number is not None else self.stems(word)
            stems += forms
            sentences += [sentence] * len(forms)
        return Words(tuple(stems), tuple(sentences))

    def stems(self, raw: str) -> tuple[str, ...]:
        """The stems one lower-case word stands for (usually one; "can't" gives two)."""
        found = self._cache.get(raw)
        if found is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            stems = self._stemmer.stemWords(self._expand(raw))
            found = tuple(s for stem in stems for s in self._spellings.get(stem, (stem,)))
            self._cache[raw] = found
        return found

    def _expand(self, raw: str) -> list[str]:
        if "'" in raw:
            base, _, clitic = raw.partition("'")
            if raw.endswith("n't"):
                return [*self._expand(_NT_BASES.get(raw[:-3], raw[:-3])), "not"]
            raw = base if clitic in _CLITICS else raw.replace("'", "")
        return list(_BARE_NT.get(raw, (raw,)))


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
                ordered += [frozenset((s,)) for w in _words(place) for s in vocabulary.stems(w)]
        return cls(tuple(ordered), ordered=True, gap=gap) if ordered else None


def _words(text: str) -> list[str]:
    return [m.group(2) or m.group(1) for m in _TOKEN.finditer(text.lower()) if not m.group(3)]


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
        words = [s for w in _words(alternative) for s in vocabulary.stems(w)]
        if len(words) > 1:
            raise PhraseSyntaxError(
                f"phrase {phrase!r}: {alternative.strip()!r} must be one word here"
            )
        stems.update(words)
    return frozenset(stems) if stems else None


class PhraseIndex:
    """Many phrases, matched together in one pass over a text's words."""

    def __init__(self, phrases: Sequence[Phrase]) -> None:
        self.phrases = tuple(phrases)
        self._by_stem: dict[str, list[tuple[int, int]]] = {}
        self._ranges: list[tuple[int, int, float, float]] = []
        for pid, phrase in enumerate(self.phrases):
            for place, term in enumerate(phrase.terms):
                if isinstance(term, tuple):
                    self._ranges.append((pid, place, term[0], term[1]))
                else:
                    for stem in term:
                        self._by_stem.setdefault(stem, []).append((pid, place))

    def spans(self, words: Words) -> dict[int, list[Span]]:
        """Every phrase that matches, with the spans where it does."""
        seen: dict[int, list[list[int]]] = {}
        for position, stem in enumerate(words.stems):
            for pid, place in self._places(stem):
                positions = seen.get(pid)
                if positions is None:
                    positions = seen[pid] = [[] for _ in self.phrases[pid].terms]
                positions[place].append(position)
        found: dict[int, list[Span]] = {}
        for pid, positions in seen.items():
            if all(positions):
                spans = list(_spans(self.phrases[pid], positions, words.sentences))
                if spans:
                    found[pid] = spans
        return found

    def _places(self, stem: str) -> Iterable[tuple[int, int]]:
        places = self._by_stem.get(stem, ())
        if not (stem[0].isdigit() and self._ranges):
            return places
        value = float(stem)
        return [*places, *((p, i) for p, i, low, high in self._ranges if low <= value <= high)]


def _spans(phrase: Phrase, positions: list[list[int]], sentences: Sequence[int]) -> Iterator[Span]:
    if len(positions) == 1:
        yield from ((p, p) for p in positions[0])
        return
    if phrase.ordered:
        for start in positions[0]:
            end = _chain(start, positions, 1, phrase.gap, sentences)
            if end is not None:
                yield (start, end)
        return
    width = (len(positions) - 1) * (phrase.gap + 1)
    events = sorted((p, place) for place, ps in enumerate(positions) for p in ps)
    for first, (low, _) in enumerate(events):
        covered: set[int] = set()
        for position, place in events[first:]:
            if position - low > width or sentences[position] != sentences[low]:
                break
            covered.add(place)
            if len(covered) == len(positions):
                yield (low, position)
                break


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
