"""Messages and phrases as word stems, for triage's phrase matching.

Text is lower-cased and split into words, numbers and sentences (a sentence ends at
``.``, ``!``, ``?`` or ``;`` not followed by a letter or digit: "c.diff" and "39.8"
stay whole). Contractions are expanded ("can't", "cant", "cannot" -> ``can not``;
"he's" -> ``he``), every word is reduced to its Snowball (Porter 2) stem by
PyStemmer, so "seizures", "seizing"; "painful"; "breathe", "breathing" match
"seizure", "pain" and "breath", and misspellings, abbreviations and irregular forms
are replaced from a spelling map ("seizer", "wks", "threw", "bled"; for longer ones
their other forms too: "siezures"). A few long, distinctive words are also recognised
one typing slip away ("sieizure", "unconsious", "pregant": one letter added, dropped,
changed or swapped).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

import Stemmer

__all__ = ["Vocabulary", "Words", "words_of"]

_SENTENCE_END = re.compile(r"[.!?;]+(?![^\W_])")
_WORD = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+(?:'[^\W\d_]+)*")
_ASCII_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*|\d+(?:\.\d+)?")  # the same, faster on ASCII
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
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
_FUZZY_MIN_LENGTH = 6
_STEM_SPELLING_MIN_LENGTH = 5  # shorter misspellings ("ams", "wk") are taken as typed only


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

    The stems of each raw word are cached in memory only, bounded (cleared when full);
    PyStemmer's own cache is turned off, so message words are held in one place.
    """

    def __init__(self, spellings: Mapping[str, str], near: Iterable[str] = ()) -> None:
        self._stemmer = Stemmer.Stemmer("english", 0)
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


def words_of(text: str) -> list[str]:
    """The raw words of ``text`` (lower-cased, as a phrase is written)."""
    return _WORD.findall(text.lower().translate(_APOSTROPHES))
