"""The phrase matcher (engine/domain/phrases.py, words.py): word forms, phrase variants, word
boundaries, contractions, misspellings, numbers and phrase syntax."""

from __future__ import annotations

import pytest

from engine.domain.phrases import Phrase, PhraseIndex, PhraseSyntaxError
from engine.domain.words import Vocabulary

VOCABULARY = Vocabulary(
    {"seizer": "seizure", "threw": "throw", "wks": "week", "ams": "confused"},
    near=["seizure", "unconscious"],
)


def matches(phrase: str, text: str, gap: int = 3) -> bool:
    compiled = Phrase.parse(phrase, VOCABULARY, gap)
    assert compiled is not None
    return bool(PhraseIndex([compiled]).spans(VOCABULARY.words(text)))


@pytest.mark.parametrize(
    ("phrase", "text"),
    [
        ("seizure", "she had two seizures tonight"),
        ("pain", "my chest is painful"),
        ("vomit", "he vomited blood"),
        ("breathe", "trouble breathing"),
        ("breathe", "short of breath"),
        ("bleeding", "it bleeds"),
        ("overdose", "she overdosed"),
    ],
)
def test_word_forms_match(phrase: str, text: str) -> None:
    assert matches(phrase, text)


@pytest.mark.parametrize(
    ("phrase", "text", "expected"),
    [
        ("pain", "Back from Spain", False),
        ("fit", "a new outfit", False),
        ("pain", "painting the fence", False),
        ("a fit", "she is having a fit", True),
        ("c.diff", "C.diff positive", True),
        ("c.diff", "cxdiff", False),
        ("fever", "FEVER!!", True),
    ],
)
def test_whole_words_only(phrase: str, text: str, expected: bool) -> None:
    assert matches(phrase, text) is expected


@pytest.mark.parametrize(
    ("phrase", "text", "expected"),
    [
        ("chest pain", "chest pain", True),
        ("chest pain", "my chest is really painful", True),  # two words between
        ("chest pain", "chest one two three pain", True),  # the gap: three
        ("chest pain", "chest one two three four pain", False),
        ("chest pain", "pain in my chest", False),  # order matters without '+'
        ("chest + pain", "pain in my chest", True),
        ("chest + pain", "chest is painful", True),
        ("vomit + blood", "blood when he vomited", True),
        ("chest + pain", "my chest. Then pain", False),  # never across a sentence end
        ("chest pain", "chest\n   pain", True),  # a line break is not a sentence end
        ("chest pain", "chest, then pain", True),  # nor is a comma
        ("stiff neck", "stiff and sore neck", True),
    ],
)
def test_phrase_variants(phrase: str, text: str, expected: bool) -> None:
    assert matches(phrase, text) is expected


def test_gap_zero_means_next_to_each_other() -> None:
    assert matches("a fit", "a fit", gap=0)
    assert not matches("a fit", "a coughing fit", gap=0)


@pytest.mark.parametrize(
    "text",
    [
        "my son can't breathe",
        "he cannot breathe",
        "couldnt breath",
        "he can not breathe",
        "she isn't breathing",
        "not breathing",
        "can\u2019t breathe",  # a typographic apostrophe
        "he doesn't seem to be breathing",  # three words between
    ],
)
def test_contractions_expand_to_not(text: str) -> None:
    assert matches("not breathe", text)


def test_clitics_are_dropped() -> None:
    assert VOCABULARY.words("he's fine").stems == ("he", "fine")
    assert VOCABULARY.words("the baby's lips").stems == ("the", "babi", "lip")


@pytest.mark.parametrize(
    ("phrase", "text"),
    [
        ("seizure", "seizer tonight"),  # the spelling map
        ("seizure", "two seizers"),  # ... and the map's other forms
        ("throw up", "threw up"),  # irregular forms
        ("{1-12} week old", "6 wks old"),  # abbreviations
        ("seizure", "sieizure again"),  # one letter too many
        ("seizure", "siezure"),  # two letters swapped
        ("unconscious", "unconsious"),  # one letter missing
    ],
)
def test_misspellings_and_abbreviations(phrase: str, text: str) -> None:
    assert matches(phrase, text)


def test_short_spellings_apply_to_the_word_as_typed_only() -> None:
    assert VOCABULARY.words("AMS").stems == ("confus",)
    assert VOCABULARY.words("I am here").stems == ("i", "am", "here")


def test_near_words_need_length_and_leave_other_words_alone() -> None:
    assert not matches("seizure", "sizing")
    assert VOCABULARY.words("unconscious").stems == VOCABULARY.words("unconsious").stems


@pytest.mark.parametrize(
    ("phrase", "text", "expected"),
    [
        ("temp {100.4-110}", "temp 101.2", True),
        ("temp {100.4-110}", "temp 99.1", False),
        ("temp {100.4-110}", "temp 100.4", True),
        ("{38-43} c", "39.8 C", True),
        ("{38-43} c", "39,8 C", True),  # read as 39 and 8: still a fever
        ("{1-12} week old", "3-week-old", True),
        ("{1-12} week old", "14 week old", False),
    ],
)
def test_number_ranges(phrase: str, text: str, expected: bool) -> None:
    assert matches(phrase, text) is expected


def test_alternatives() -> None:
    assert matches("trouble|hard breathe", "hard to breathe")
    assert matches("trouble|hard breathe", "trouble breathing")
    assert not matches("trouble|hard breathe", "easy breathing")


@pytest.mark.parametrize(
    ("phrase", "message"),
    [
        ("chest + sore throat", "'sore throat' must be one word here"),
        ("chest + ", "every part around '+' needs a word"),
        ("{5-1} days", "empty number range {5-1}"),
        ("can't|no breathe", '"can\'t" must be one word here'),
    ],
)
def test_syntax_errors_quote_the_phrase(phrase: str, message: str) -> None:
    with pytest.raises(PhraseSyntaxError, match="phrase ") as raised:
        Phrase.parse(phrase, VOCABULARY, 3)
    assert message in str(raised.value)


@pytest.mark.parametrize("blank", ["", "  ", "!!", "..."])
def test_blank_phrases_compile_to_nothing(blank: str) -> None:
    assert Phrase.parse(blank, VOCABULARY, 3) is None


def test_spans_report_where_each_phrase_matches() -> None:
    phrases = [Phrase.parse(p, VOCABULARY, 3) for p in ("pain", "chest + pain", "fever")]
    index = PhraseIndex([p for p in phrases if p is not None])
    found = index.spans(VOCABULARY.words("pain in my chest. More pain"))
    assert found == {0: [(0, 0), (5, 5)], 1: [(0, 3)]}


def test_an_email_subject_and_body_are_separate_sentences() -> None:
    both = VOCABULARY.words("chest") + VOCABULARY.words("pain")
    compiled = Phrase.parse("chest pain", VOCABULARY, 3)
    assert compiled is not None
    assert both.stems == ("chest", "pain")
    assert PhraseIndex([compiled]).spans(both) == {}
