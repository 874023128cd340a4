"""On-call resolution: half-open shifts, overlaps, defaults, the operator desk last."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.oncall import EscalationChain, Level, resolve_chain
from engine.domain.practice import OnCallShift, SimpleSchedule
from tests.unit.practice_factories import at, practice, shift, utc

Ids = tuple[str, ...]
DESK = ("operator", ("operator-desk",))
# Daily 08:00 handoffs in New York; the second one crosses the spring-forward night (23 h).
MON = shift(at("2026-03-02 08:00"), at("2026-03-03 08:00"), ["dr-a"], ["dr-b"])
TUE = shift(at("2026-03-03 08:00"), at("2026-03-04 08:00"), ["dr-c"], ["dr-d"])
EVENING = shift(at("2026-03-02 18:00"), at("2026-03-02 22:00"), ["dr-e"])  # override
EVENING_TOO = shift(at("2026-03-02 18:00"), at("2026-03-02 21:00"), ["dr-f"])
SAT = shift(at("2026-03-07 08:00"), at("2026-03-08 08:00"), ["dr-a"])
SUN = shift(at("2026-03-08 08:00"), at("2026-03-09 08:00"), ["dr-c"])
SAME = shift(at("2026-03-02 08:00"), at("2026-03-03 08:00"), ["dr-a", "dr-a"], ["dr-a", "dr-b"])
ONLY_SELF = shift(at("2026-03-02 08:00"), at("2026-03-03 08:00"), ["dr-a"], ["dr-a"])


def schedule(*shifts: OnCallShift, primary: Ids = (), backup: Ids = ()) -> SimpleSchedule:
    return SimpleSchedule(
        shifts=list(shifts), default_primary=list(primary), default_backup=list(backup)
    )


def p(*ids: str) -> tuple[str, Ids]:
    return ("primary", ids)


def b(*ids: str) -> tuple[str, Ids]:
    return ("backup", ids)


AB, CD = [p("dr-a"), b("dr-b")], [p("dr-c"), b("dr-d")]
WEEK, DEFAULTS = schedule(MON, TUE), schedule(primary=("dr-p",), backup=("dr-p", "dr-q"))
NIGHT = at("2026-03-02 20:00")

CASES = [
    ("inside-shift", WEEK, NIGHT, AB),
    ("start-inclusive", WEEK, at("2026-03-02 08:00"), AB),
    ("end-exclusive-handoff", WEEK, at("2026-03-03 08:00"), CD),
    ("last-microsecond", WEEK, at("2026-03-03 07:59:59.999999"), AB),
    (
        "end-exclusive-to-defaults",
        schedule(MON, primary=("dr-z",)),
        at("2026-03-03 08:00"),
        [p("dr-z")],
    ),
    ("utc-instant", WEEK, utc("2026-03-03T12:59"), AB),
    ("overlap-latest-start-wins", schedule(MON, EVENING), at("2026-03-02 19:00"), [p("dr-e")]),
    ("overlap-order-irrelevant", schedule(EVENING, MON), at("2026-03-02 19:00"), [p("dr-e")]),
    ("override-over-back-to-shift", schedule(MON, EVENING), at("2026-03-02 22:00"), AB),
    (
        "equal-start-later-listed",
        schedule(EVENING, EVENING_TOO),
        at("2026-03-02 19:00"),
        [p("dr-f")],
    ),
    ("defaults-no-repeat-in-backup", DEFAULTS, NIGHT, [p("dr-p"), b("dr-q")]),
    ("defaults-backup-only", schedule(backup=("dr-q",)), NIGHT, [b("dr-q")]),
    ("nobody-on-call", schedule(), NIGHT, []),
    ("duplicates-not-repeated", schedule(SAME), NIGHT, AB),
    ("backup-only-duplicates-skipped", schedule(ONLY_SELF), NIGHT, [p("dr-a")]),
    ("spring-forward-before-handoff", schedule(SAT, SUN), utc("2026-03-08T11:59"), [p("dr-a")]),
    ("spring-forward-handoff-0800-edt", schedule(SAT, SUN), utc("2026-03-08T12:00"), [p("dr-c")]),
]


@pytest.mark.parametrize(
    ("sched", "instant", "clinicians"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_resolve_chain(
    sched: SimpleSchedule, instant: datetime, clinicians: list[tuple[str, Ids]]
) -> None:
    chain = resolve_chain(practice(schedule=sched), instant)
    assert [(level.name, level.targets) for level in chain.levels] == [*clinicians, DESK]
    assert [level.is_operator for level in chain.levels] == [False] * len(clinicians) + [True]
    assert len(chain.clinician_levels) == len(clinicians)


def test_operator_desk_comes_from_the_practice() -> None:
    config = practice().model_copy(update={"operator_desk": "desk-7"})
    chain = resolve_chain(config, at("2026-03-02 20:00"))
    assert chain.levels == (Level("operator", ("desk-7",), is_operator=True),)
    assert chain.operator == chain.levels[-1] and chain.clinician_levels == ()


OPERATOR = Level("operator", ("operator-desk",), is_operator=True)
PRIMARY = Level("primary", ("dr-a",))


@pytest.mark.parametrize(
    "levels",
    [(), (PRIMARY,), (OPERATOR, PRIMARY), (PRIMARY, OPERATOR, OPERATOR)],
    ids=["empty", "no-operator", "operator-first", "operator-twice"],
)
def test_chain_invariants(levels: tuple[Level, ...]) -> None:
    with pytest.raises(ValueError, match="operator desk level"):
        EscalationChain(levels)


def test_level_needs_targets() -> None:
    with pytest.raises(ValueError, match="no targets"):
        Level("primary", ())


def test_naive_instant_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_chain(practice(), datetime(2026, 3, 2, 20, 0))


people = st.lists(st.sampled_from(["dr-a", "dr-b", "dr-c", "dr-d"]), max_size=4)
BASE = utc("2026-03-01T00:00")


def _shift(start: int, hours: int, primary: list[str], backup: list[str]) -> OnCallShift:
    return shift(
        BASE + timedelta(hours=start), BASE + timedelta(hours=start + hours), primary, backup
    )


shifts = st.builds(_shift, st.integers(0, 72), st.integers(1, 48), people.filter(bool), people)


@given(st.lists(shifts, max_size=4), people, people, st.integers(0, 120 * 60))
def test_chain_shape(
    shift_list: list[OnCallShift], primary: list[str], backup: list[str], minute: int
) -> None:
    sched = schedule(*shift_list, primary=tuple(primary), backup=tuple(backup))
    instant = BASE + timedelta(minutes=minute)
    chain = resolve_chain(practice(schedule=sched), instant)
    assert chain.levels[-1] == OPERATOR
    paged = [t for level in chain.clinician_levels for t in level.targets]
    assert len(paged) == len(set(paged))
    assert all(level.targets for level in chain.levels)
    covering = [s for s in shift_list if s.start <= instant < s.end]
    expected_primary = (
        max(reversed(covering), key=lambda s: s.start).primary if covering else primary
    )
    if expected_primary:
        assert chain.levels[0] == Level("primary", tuple(dict.fromkeys(expected_primary)))
