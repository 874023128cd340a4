"""The red-flag lexicon (engine/domain/red_flags.yaml): every entry fires on wording a
caller would use, negation only silences urgent entries, ``unless`` phrases, groups that
must co-occur, the infant age from a date of birth, and what a practice may change."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from engine.domain.practice import TriageRules
from engine.domain.red_flags import PATIENT_UNDER_90_DAYS, default_lexicon, load_lexicon
from engine.domain.triage import classify
from engine.schemas.intake import CallReason, Patient, Urgency
from tests.unit.practice_factories import event, utc

LEXICON = default_lexicon()
RECEIVED = utc("2026-01-05T03:00:00")  # the factory's received_at

# One natural example per entry; the test below checks every entry is here.
EXAMPLES = {
    "breathing": "my son is struggling to breathe",
    "blue_lips": "his lips look blue",
    "unresponsive": "she won't wake up",
    "seizure": "he had a convulsion",
    "chest_pain": "pressure in my chest",
    "severe_bleeding": "the cut won't stop bleeding",
    "blood_vomit_or_cough": "coughing up blood",
    "poisoning_overdose": "she swallowed a battery",
    "took_others_medicine": "he got into his grandma's pills",
    "suicide_or_self_harm": "my daughter says she wants to kill herself",
    "stroke_signs": "his face is drooping on one side",
    "anaphylaxis": "her tongue is swelling",
    "infant_fever": "my 3 week old has a fever",
    "very_high_fever": "temp is 105.4",
    "high_risk_fever": "fever and he is on chemo",
    "head_injury_vomiting": "hit her head and then threw up",
    "head_injury_confusion": "bumped his head and seems confused",
    "fall_then_vomiting": "fell off the bed and then vomited",
    "stiff_neck_fever": "stiff neck and a fever",
    "non_blanching_rash": "purple spots on his legs",
    "choking": "she is choking",
    "severe_abdominal_pain": "excruciating stomach pain",
    "testicular_pain": "his testicle hurts",
    "pregnancy_bleeding": "I'm pregnant and bleeding",
    "reduced_fetal_movement": "32 weeks pregnant and the baby is not moving",
    "major_trauma": "he was hit by a car",
    "diabetic_emergency": "blood sugar is 45",
    "fever": "she has a fever",
    "vomiting_or_diarrhea": "throwing up since noon",
    "dehydration": "no wet diapers today",
    "bleeding": "a nosebleed",
    "pain": "my ear hurts",
    "severe_headache": "terrible headache",
    "rash": "a rash on her arm",
    "allergic_reaction": "an allergic reaction to the antibiotic",
    "wheezing_or_croup": "he is wheezing",
    "head_injury": "he bumped his head",
    "injury": "I think she broke her wrist",
    "eye_injury_or_vision": "my vision is blurry",
    "swelling": "my ankle is swollen",
    "swallowed_object": "he swallowed a coin",
    "medication_error": "I gave her a double dose",
    "trouble_swallowing": "she can't swallow",
    "altered_mental_status": "grandpa is confused today",
    "fainting_or_dizziness": "she fainted at school",
    "jaundice": "the baby's skin looks yellow",
    "pregnancy_concern": "pregnant and having contractions",
    "blood_sugar": "his blood sugar is high",
    "palpitations": "my heart is racing",
    "high_blood_pressure": "bp 182/110",
    "infection_signs": "the incision is oozing pus",
    "urinary_symptoms": "it burns when I pee",
    "mental_health_crisis": "I'm having a panic attack",
    "asks_for_emergency_care": "should I take him to the ER",
    "abuse_or_assault": "I was assaulted",
}


def fired(text: str, facts: frozenset[str] = frozenset()) -> list[str]:
    return [flag.rule for flag in LEXICON.match(LEXICON.words([text]), facts)]


def test_every_entry_has_an_example() -> None:
    assert {flag.rule for flag in LEXICON.flags} == set(EXAMPLES)


@pytest.mark.parametrize(("rule", "text"), sorted(EXAMPLES.items()))
def test_each_entry_fires_on_its_example(rule: str, text: str) -> None:
    assert rule in fired(text)


def test_entries_are_ids_levels_and_descriptions() -> None:
    for flag in LEXICON.flags:
        assert flag.rule_id == f"red_flag:{flag.rule}"
        assert flag.urgency in (Urgency.URGENT, Urgency.EMERGENCY)
        assert flag.means


@pytest.mark.parametrize(
    "text",
    ["no fever", "she doesn't have a fever", "fever free since Monday", "denies any pain"],
)
def test_negated_words_do_not_fire_an_urgent_entry(text: str) -> None:
    assert fired(text) == []


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("he's not breathing", "breathing"),
        ("no seizures since March, but one tonight?", "seizure"),
        ("not responding to me", "unresponsive"),
    ],
)
def test_emergency_entries_fire_even_when_negated(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "not eating and has a fever",  # 'not' belongs to 'eating'
        "fever not going down",  # the negation follows
        "no appetite, fever since noon",
    ],
)
def test_negation_reaches_only_its_own_words(text: str) -> None:
    assert "fever" in fired(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("please refill his seizure medicine", []),
        ("she is throwing a fit about bedtime", []),
        ("poison ivy on both arms", []),
        ("refill of my pain medication", []),
        ("refill his seizure medicine, he had a seizure tonight", ["seizure"]),
    ],
)
def test_unless_phrases_only_cover_their_own_words(text: str, expected: list[str]) -> None:
    assert fired(text) == expected


def test_groups_must_all_be_present() -> None:
    assert fired("he bumped his head") == ["head_injury"]
    assert fired("he has been vomiting") == ["vomiting_or_diarrhea"]
    both = fired("he bumped his head and has been vomiting")
    assert {"head_injury_vomiting", "head_injury", "vomiting_or_diarrhea"} <= set(both)


@pytest.mark.parametrize(
    ("text", "infant"),
    [
        ("my newborn has a fever", True),
        ("6 week old with a temp of 100.5", True),
        ("my 2 month old feels hot", True),
        ("born 10 days ago and now has a fever", True),
        ("my 4 month old has a fever", False),
        ("14 week old with a fever", False),
        ("fever for 2 weeks", False),
        ("my newborn is feeding well", False),
    ],
)
def test_infant_fever_from_age_words(text: str, infant: bool) -> None:
    assert ("infant_fever" in fired(text)) is infant


@pytest.mark.parametrize(
    ("age_days", "message", "infant"),
    [
        (30, "she has a fever", True),
        (89, "running a temp", True),
        (90, "she has a fever", False),
        (30, "question about feeding", False),
        (-1, "she has a fever", True),  # a birth date after the call is not an older baby
    ],
)
def test_infant_fever_from_date_of_birth(age_days: int, message: str, infant: bool) -> None:
    born = RECEIVED.date() - timedelta(days=age_days)
    baby = Patient(name="Synthetic Baby", date_of_birth=born)
    ev = event(message=message).model_copy(update={"patient": baby})
    _, reasons = classify(ev, TriageRules())
    assert ("red_flag:infant_fever" in reasons) is infant


def test_the_age_fact_stands_for_the_age_words() -> None:
    assert "infant_fever" in fired("fever tonight", frozenset({PATIENT_UNDER_90_DAYS}))
    assert "infant_fever" not in fired("fever tonight")


def rules(**fields: Any) -> TriageRules:
    return TriageRules(**fields)


def urgency(text: str, triage_rules: TriageRules) -> tuple[Urgency, tuple[str, ...]]:
    return classify(event(message=text, reason=CallReason.APPOINTMENT), triage_rules)


def test_a_practice_moves_an_entry_between_urgent_and_emergency() -> None:
    lowered = rules(red_flag_urgency={"high_risk_fever": Urgency.URGENT})
    assert urgency("fever and on chemo", lowered)[0] is Urgency.URGENT
    raised = rules(red_flag_urgency={"rash": Urgency.EMERGENCY})
    assert urgency("a rash on her arm", raised)[0] is Urgency.EMERGENCY
    assert urgency("fever and on chemo", rules())[0] is Urgency.EMERGENCY


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ({"rash": "routine"}, "red flag 'rash' cannot be routine"),
        ({"no_such_flag": "urgent"}, "unknown red flag 'no_such_flag'"),
    ],
)
def test_a_practice_cannot_switch_an_entry_off(levels: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TriageRules.model_validate({"red_flag_urgency": levels})


def test_practice_keywords_get_word_forms_and_phrase_variants() -> None:
    own = rules(urgent_keywords=["tug + ear"], emergency_keywords=["c.diff"])
    assert urgency("she keeps tugging at her ears", own) == (
        Urgency.URGENT,
        ("reason:appointment", "keyword:urgent"),
    )
    assert urgency("C.diff came back positive", own)[1][-1] == "keyword:emergency"
    assert urgency("no c.diff after all", own)[0] is Urgency.EMERGENCY  # never negated


def test_a_malformed_practice_keyword_is_a_clear_load_error() -> None:
    with pytest.raises(ValidationError, match=re.escape("phrase 'ear + sore throat'")):
        TriageRules.model_validate({"urgent_keywords": ["ear + sore throat"]})


def test_the_lexicon_never_lowers_other_rules() -> None:
    stat = classify(event(message="no fever", reason=CallReason.STAT_LAB_RESULT), TriageRules())
    assert stat == (Urgency.EMERGENCY, ("reason:stat_lab_result",))


MINIMAL: dict[str, Any] = {
    "version": 1,
    "negation": {"before": ["no"], "fillers": [], "after": []},
    "spellings": {},
}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [{"id": "a", "urgency": "urgent", "means": "A", "phrases": ["x"]}] * 2,
            "duplicate red flag ids: a",
        ),
        ([{"id": "a", "urgency": "routine", "means": "A", "phrases": ["x"]}], "urgency"),
        (
            [
                {
                    "id": "a",
                    "urgency": "urgent",
                    "means": "A",
                    "phrases": ["x"],
                    "all_of": [{"phrases": ["y"]}],
                }
            ],
            "give either phrases or all_of",
        ),
        ([{"id": "a", "urgency": "urgent", "means": "A", "phrases": ["!!"]}], "has no words"),
    ],
)
def test_a_broken_lexicon_does_not_load(entries: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_lexicon(yaml.safe_dump({**MINIMAL, "red_flags": entries}))


def test_a_lexicon_of_one_entry_works() -> None:
    entry = {"id": "odd", "urgency": "urgent", "means": "Odd", "phrases": ["odd + smell"]}
    lexicon = load_lexicon(yaml.safe_dump({**MINIMAL, "red_flags": [entry]}))
    assert [f.rule for f in lexicon.match(lexicon.words(["a smell that is odd"]))] == ["odd"]
    assert lexicon.match(lexicon.words(["no odd smell"])) == []
