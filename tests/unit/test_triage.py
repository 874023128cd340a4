"""Triage: every urgency rule, their combinations, and the action taken at a given time."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.practice import OfficeHours
from engine.domain.triage import TriageAction, TriageResult, triage
from engine.schemas.intake import CallerType, CallReason, IntakeEvent, Urgency
from tests.unit.practice_factories import at, event, practice, utc, weekday_hours

R, C, U, A = CallReason, CallerType, Urgency, TriageAction
NIGHT = at("2026-01-06 23:00")  # Tuesday night, New York; the office opens 09:00 Wednesday
DAY = at("2026-01-06 10:00")
WED_9 = utc("2026-01-07T14:00")
Kw = dict[str, Any]
REFILL: Kw = {"reason": R.PRESCRIPTION_REFILL}
OFFICE, RX, SYM = "reason:office_routine", "reason:prescription_refill", "reason:symptoms"
KE, ASKED = "keyword:emergency", "caller_requested"
SEIZURE, CHEST, PAIN = "red_flag:seizure", "red_flag:chest_pain", "red_flag:pain"
HONOUR_CALLER = {"honour_caller_requested_urgency": True}
LAB_EMERGENCY = {"caller_type_minimum": {C.LAB: U.EMERGENCY}}
PATIENT_ROUTINE = {"caller_type_minimum": {C.PATIENT: U.ROUTINE}}
CDIFF = {"emergency_keywords": ["c.diff"]}

E = event
SYMPTOMS: Kw = {"reason": R.SYMPTOMS}
HOSPITAL: Kw = {"caller": C.HOSPITAL}
OP_URGENT: Kw = {"operator_urgency": U.URGENT}
OP_ROUTINE: Kw = {"operator_urgency": U.ROUTINE}
ASK_URGENT: Kw = {"caller_requested_urgency": U.URGENT}
ASK_ROUTINE: Kw = {"caller_requested_urgency": U.ROUTINE}
NO_OPERATOR: Kw = {"honour_operator_urgency": False}
NO_REASONS: Kw = {"reason_urgency": {}}

URGENCY = [
    ("refill-routine", E(**REFILL), {}, U.ROUTINE, (RX,)),
    ("symptoms-urgent", E(**SYMPTOMS), {}, U.URGENT, (SYM,)),
    (
        "stat-lab-emergency",
        E(reason=R.STAT_LAB_RESULT),
        {},
        U.EMERGENCY,
        ("reason:stat_lab_result",),
    ),
    ("reason-not-in-map-urgent", E(), NO_REASONS, U.URGENT, (OFFICE,)),
    ("hospital-refill-urgent", E(**HOSPITAL, **REFILL), {}, U.URGENT, (RX, "caller:hospital")),
    ("pharmacy-refill-routine", E(caller=C.PHARMACY, **REFILL), {}, U.ROUTINE, (RX,)),
    (
        "caller-minimum-emergency",
        E(caller=C.LAB),
        LAB_EMERGENCY,
        U.EMERGENCY,
        (OFFICE, "caller:lab"),
    ),
    (
        "caller-minimum-no-lowering",
        E(**SYMPTOMS),
        PATIENT_ROUTINE,
        U.URGENT,
        (SYM, "caller:patient"),
    ),
    ("red-flag", E(message="Child had a seizure tonight"), {}, U.EMERGENCY, (OFFICE, SEIZURE)),
    (
        "case-insensitive",
        E(message="CHEST PAIN since dinner"),
        {},
        U.EMERGENCY,
        (OFFICE, CHEST, PAIN),
    ),
    ("not-inside-a-word", E(message="Back from Spain, painting"), {}, U.ROUTINE, (OFFICE,)),
    ("before-punctuation", E(message="Fever!"), {}, U.URGENT, (OFFICE, "red_flag:fever")),
    (
        "phrase-across-whitespace",
        E(message="chest\n  pain"),
        {},
        U.EMERGENCY,
        (OFFICE, CHEST, PAIN),
    ),
    ("phrase-within-a-sentence", E(message="chest. Then pain"), {}, U.URGENT, (OFFICE, PAIN)),
    ("email-subject", E("email", subject="Bleeding"), {}, U.URGENT, (OFFICE, "red_flag:bleeding")),
    (
        "subject-body-apart",
        E("email", subject="chest", message="pain"),
        {},
        U.URGENT,
        (OFFICE, PAIN),
    ),
    ("regex-characters-literal", E(message="cxdiff"), CDIFF, U.ROUTINE, (OFFICE,)),
    ("regex-characters-match", E(message="C.diff positive"), CDIFF, U.EMERGENCY, (OFFICE, KE)),
    (
        "blank-keywords-ignored",
        E(message="hi"),
        {"urgent_keywords": ["", " "]},
        U.ROUTINE,
        (OFFICE,),
    ),
    ("operator-raises", E(**OP_URGENT), {}, U.URGENT, (OFFICE, "operator")),
    ("operator-not-honoured", E(**OP_URGENT), NO_OPERATOR, U.ROUTINE, (OFFICE,)),
    ("operator-no-lowering", E(**SYMPTOMS, **OP_ROUTINE), {}, U.URGENT, (SYM, "operator")),
    ("caller-urgent-refill-routine", E(**ASK_URGENT, **REFILL), {}, U.ROUTINE, (RX,)),
    (
        "caller-urgent-refill-honoured",
        E(**ASK_URGENT, **REFILL),
        HONOUR_CALLER,
        U.URGENT,
        (RX, ASKED),
    ),
    (
        "caller-routine-no-lowering",
        E(**SYMPTOMS, **ASK_ROUTINE),
        HONOUR_CALLER,
        U.URGENT,
        (SYM, ASKED),
    ),
    (
        "everything-at-once",
        E(**HOSPITAL, message="chest pain", **OP_URGENT),
        {},
        U.EMERGENCY,
        (OFFICE, "caller:hospital", CHEST, PAIN, "operator"),
    ),
]


@pytest.mark.parametrize(
    ("ev", "rules", "urgency", "reasons"), [c[1:] for c in URGENCY], ids=[c[0] for c in URGENCY]
)
def test_urgency(
    ev: IntakeEvent, rules: dict[str, Any], urgency: Urgency, reasons: tuple[str, ...]
) -> None:
    result = triage(ev, practice(**rules), NIGHT)
    assert result.urgency is urgency
    assert result.reasons[: len(reasons)] == reasons
    assert set(result.reasons[len(reasons) :]) <= {"after_hours"}


ON_HOLD: Kw = {"kind": "voice", "caller_on_hold": True}
DOCTOR: Kw = {"caller": C.PHYSICIAN, "reason": R.DOCTOR_TO_DOCTOR}
NO_MINIMUM: Kw = {"caller_type_minimum": {}}
HOLIDAY: Kw = {"office_hours": weekday_hours(closed=(date(2026, 1, 12),))}
NO_HOURS: Kw = {"office_hours": OfficeHours()}
SAT_NIGHT, MON_9, TUE_9 = at("2026-01-10 23:00"), utc("2026-01-12T14:00"), utc("2026-01-13T14:00")


def live(*urgencies: Urgency) -> dict[str, Any]:
    return {"live_transfer_urgencies": list(urgencies)}


ACTIONS = [
    ("emergency-at-night-dispatches", event(reason=R.STAT_LAB_RESULT), {}, NIGHT, A.DISPATCH, None),
    ("urgent-in-office-hours-dispatches", event(reason=R.SYMPTOMS), {}, DAY, A.DISPATCH, None),
    ("routine-saturday-night-to-monday", event(**REFILL), {}, SAT_NIGHT, A.HOLD_FOR_OFFICE, MON_9),
    ("routine-tuesday-night-held", event(**REFILL), {}, NIGHT, A.HOLD_FOR_OFFICE, WED_9),
    ("routine-office-open-delivered", event(**REFILL), {}, DAY, A.DELIVER_TO_OFFICE, DAY),
    ("routine-holiday-skipped", event(**REFILL), HOLIDAY, SAT_NIGHT, A.HOLD_FOR_OFFICE, TUE_9),
    ("routine-no-office-hours-dispatches", event(**REFILL), NO_HOURS, NIGHT, A.DISPATCH, None),
    ("doctor-on-hold-live", event(**ON_HOLD, **DOCTOR), {}, NIGHT, A.LIVE_TRANSFER, None),
    ("doctor-not-on-hold-dispatch", event("voice", **DOCTOR), {}, NIGHT, A.DISPATCH, None),
    ("doctor-voicemail-dispatch", event("voicemail", **DOCTOR), {}, NIGHT, A.DISPATCH, None),
    (
        "doctor-routine-held",
        event(**ON_HOLD, caller=C.PHYSICIAN, **REFILL),
        NO_MINIMUM,
        NIGHT,
        A.HOLD_FOR_OFFICE,
        WED_9,
    ),
    ("patient-urgent-dispatch", event(**ON_HOLD, reason=R.SYMPTOMS), {}, NIGHT, A.DISPATCH, None),
    (
        "patient-urgency-listed",
        event(**ON_HOLD, reason=R.SYMPTOMS),
        live(U.URGENT),
        NIGHT,
        A.LIVE_TRANSFER,
        None,
    ),
    (
        "other-urgency-listed",
        event(**ON_HOLD, reason=R.SYMPTOMS),
        live(U.EMERGENCY),
        NIGHT,
        A.DISPATCH,
        None,
    ),
    (
        "routine-never-patched",
        event(**ON_HOLD, **REFILL),
        live(U.ROUTINE),
        NIGHT,
        A.HOLD_FOR_OFFICE,
        WED_9,
    ),
]


@pytest.mark.parametrize(
    ("ev", "config", "now", "action", "release_at"),
    [c[1:] for c in ACTIONS],
    ids=[c[0] for c in ACTIONS],
)
def test_action(
    ev: IntakeEvent,
    config: dict[str, Any],
    now: datetime,
    action: TriageAction,
    release_at: datetime | None,
) -> None:
    result = triage(ev, practice(**config), now)
    assert result.action is action
    assert result.release_at == release_at


@pytest.mark.parametrize(
    ("config", "now", "tail"),
    [
        ({}, NIGHT, "after_hours"),
        ({}, at("2026-01-06 10:00"), "office_open"),
        ({"office_hours": OfficeHours()}, NIGHT, "never_opens"),
    ],
    ids=["held", "delivered", "never-opens"],
)
def test_routine_reason_names_the_office_decision(
    config: dict[str, Any], now: datetime, tail: str
) -> None:
    result = triage(event(**REFILL), practice(**config), now)
    assert result.reasons == ("reason:prescription_refill", tail)


def test_result_is_exact() -> None:
    expected = TriageResult(
        U.ROUTINE, A.HOLD_FOR_OFFICE, ("reason:billing", "after_hours"), utc("2026-01-07T14:00")
    )
    assert triage(event(reason=R.BILLING), practice(), NIGHT) == expected


RULE_ID = re.compile(
    r"^(reason:[a-z_]+|caller:[a-z_]+|red_flag:[a-z_]+|keyword:(emergency|urgent)|operator|caller_requested|after_hours|office_open|never_opens)$"
)
words = st.sampled_from(
    ["pain", "Spain", "chest", "fever", "refill", "Test", "Patient", "seizure!", "ok"]
)


@given(
    reason=st.sampled_from(list(R)),
    caller=st.sampled_from(list(C)),
    text=st.lists(words, max_size=6).map(" ".join),
    kind=st.sampled_from(["sms", "voice", "email"]),
    operator=st.none() | st.sampled_from(list(U)),
    requested=st.none() | st.sampled_from(list(U)),
    honour=st.booleans(),
    hour=st.integers(0, 23),
)
def test_urgency_never_below_any_rule(
    reason: CallReason,
    caller: CallerType,
    text: str,
    kind: str,
    operator: Urgency | None,
    requested: Urgency | None,
    honour: bool,
    hour: int,
) -> None:
    config = practice(honour_caller_requested_urgency=honour)
    ev = event(
        kind,
        reason=reason,
        caller=caller,
        message=text,
        operator_urgency=operator,
        caller_requested_urgency=requested,
    )
    result = triage(ev, config, at(f"2026-01-06 {hour:02d}:30"))
    floors = [
        config.triage.reason_urgency.get(reason, U.URGENT),
        config.triage.caller_type_minimum.get(caller, U.ROUTINE),
        operator or U.ROUTINE,
    ]
    floors += [requested or U.ROUTINE] if honour else []
    assert result.urgency.rank == max(u.rank for u in floors) or "red_flag:" in " ".join(
        result.reasons
    )
    assert all(result.urgency.rank >= u.rank for u in floors)
    assert all(RULE_ID.match(r) for r in result.reasons)
    if result.urgency is not U.ROUTINE:
        assert result.action in (A.DISPATCH, A.LIVE_TRANSFER) and result.release_at is None
