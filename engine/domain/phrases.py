"""Word-form phrase matching for triage: messages and phrases become word stems, and a
phrase matches when its words occur close together.

Text is lower-cased and split into words, numbers and sentence ends (``.``, ``!``,
``?``, ``;`` not followed by a letter or digit: "c.diff" and "39.8" stay whole).
Contractions are expanded ("can't", "cant", "cannot" -> ``can not``; "he's" -> ``he``),
every word is reduced to its Snowball (Porter 2) stem by PyStemmer, so "seizures",
"seizing"; "painful"; "breathe", "breathing" match "seizure", "pain" and "breath",
and misspellings, abbreviations and irregular forms are replaced from a spelling map
("seizer", "wks", "threw", "bled"; for longer ones their other forms too: "siezures").
A few long, distinctive words are also recognised one typing slip away ("sieizure",
"unconsious", "pregant": one letter added, dropped, changed or swapped). Phrases go
through the same steps, so they are written in plain words.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import Stemmer

__all__ = ["Phrase", "PhraseIndex", "PhraseSyntaxError", "Span", "Vocabulary", "Words"]

Span = tuple[int, int]
"""First and last word position of one match."""

_SENTENCE_END = re.compile(r"[.!?;]+(?![^\W_])")
_WORD = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+(?:'[^\W\d_]+)*")
_ASCII_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*|\d+(?:\.\d+)?")  # the same, faster on ASCII
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
# Stems too frequent in messages to make a phrase a candidate by themselves (speed only).
_FREQUENT_WORDS = (
    "a an the is was are were be been of to in on at for and or i he she it my his her "
    "have has had not no can will do up out get got so veri realli with from by me him"
)
_FREQUENT = frozenset(_FREQUENT_WORDS.split())
_FUZZY_MIN_LENGTH = 6
_STEM_SPELLING_MIN_LENGTH = 5  # shorter misspellings ("ams", "wk") are taken as typed only


class PhraseSyntaxError(ValueError):
    """A phrase that cannot be compiled; the message quotes the phrase, never a message."""


@dataclass(frozen=True)
class Words:
    """A text as stems, with the sentence each stem belongs to."""

    stems: tuple[str, ...]
    sentences: tuple[int, ...]

    @cached_property
    def positions(self) -> dict[str, list[int]]:
        """Where each stem occurs (computed once, shared by every phrase index)."""
        where: dict[str, list[int]] = {}
        for position, stem in enumerate(self.stems):
            found = where.get(stem)
            if found is None:
                where[stem] = [position]
            else:
                found.append(position)
        return where

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

    def __init__(self, spellings: Mapping[str, str], near: Iterable[str] = ()) -> None:
        self._stemmer = Stemmer.Stemmer("english")
        self._near: dict[str, str] = {}
        for target in (t.lower() for t in near):
            for variant in _one_deleted(target):
                known = self._near.setdefault(variant, target)
                if known != target:
                    self._near[variant] = ""  # two targets this close: neither is guessed
        self._spellings = {k.lower(): tuple(v.lower().split()) for k, v in spellings.items()}
        self._stem_spellings = {
            self._stemmer.stemWord(wrong): tuple(self._stemmer.stemWords(right))
            for wrong, right in self._spellings.items()
            if len(wrong) >= _STEM_SPELLING_MIN_LENGTH
        }
        self._cache: dict[str, tuple[str, ...]] = {}

    def words(self, text: str) -> Words:
        stems: list[str] = []
        sentences: list[int] = []
        lowered = text.lower()
        pattern = _ASCII_WORD
        if not lowered.isascii():
            lowered, pattern = lowered.translate(_APOSTROPHES), _WORD
        cache = self._cache
        for number, sentence in enumerate(_SENTENCE_END.split(lowered)):
            for raw in pattern.findall(sentence):
                forms = cache.get(raw) or self.stems(raw)
                stems += forms
                sentences += [number] * len(forms)
        return Words(tuple(stems), tuple(sentences))

    def stems(self, raw: str) -> tuple[str, ...]:
        """The stems one lower-case word stands for (usually one; "can't" gives two)."""
        if raw[0].isdigit():
            return (raw,)
        found = self._cache.get(raw)
        if found is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            stems = self._stemmer.stemWords(self._expand(raw))
            found = tuple(s for stem in stems for s in self._stem_spellings.get(stem, (stem,)))
            self._cache[raw] = found
        return found

    def _expand(self, raw: str) -> list[str]:
        if "'" in raw:
            base, _, clitic = raw.partition("'")
            if raw.endswith("n't"):
                return [*self._expand(_NT_BASES.get(raw[:-3], raw[:-3])), "not"]
            raw = base if clitic in _CLITICS else raw.replace("'", "")
        if raw in _BARE_NT:
            return list(_BARE_NT[raw])
        if raw in self._spellings:
            return list(self._spellings[raw])
        if len(raw) >= _FUZZY_MIN_LENGTH and self._near:
            for variant in _one_deleted(raw):
                target = self._near.get(variant)
                if target:
                    return [target]
        return [raw]


def _one_deleted(word: str) -> set[str]:
    """The word and every form of it with one letter left out (symmetric-delete lookup)."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


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
    return _WORD.findall(text.lower().translate(_APOSTROPHES))


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
