"""Property-based checks of schedule resolution around DST changes.

Random groups (rotations of every unit, handoffs near the DST hour, restriction
windows, overrides) in zones with unusual changes (Lord Howe moves 30 minutes,
Santiago skips and repeats midnight), over ranges near the changes:

- point queries agree with the rendered schedule, which is contiguous;
- with a full-coverage bottom layer there is exactly one primary at every instant;
- an extra override changes nothing outside its interval;
- on_call agrees with a brute-force reference that walks every shift;
- local -> UTC conversion picks the first instant the wall clock reads the time.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain._wall_clock import localize, wall
from engine.domain.schedule import (
    CoverageGroup,
    CoverageRole,
    Layer,
    Override,
    OverrideKind,
    Restriction,
    ShiftUnit,
)
from engine.domain.schedule_resolution import Segment, on_call, render
from engine.domain.weekdays import Weekday

PRIMARY = CoverageRole.PRIMARY
PROPERTY = settings(max_examples=100)  # no deadline: see tests/conftest.py
ZONES = {  # zone -> local dates of its 2026 changes
    "America/New_York": (date(2026, 3, 8), date(2026, 11, 1)),
    "Europe/London": (date(2026, 3, 29), date(2026, 10, 25)),
    "Australia/Lord_Howe": (date(2026, 4, 5), date(2026, 10, 4)),
    "America/Santiago": (date(2026, 4, 4), date(2026, 9, 6)),
    "UTC": (date(2026, 2, 28), date(2026, 12, 31)),
}
PEOPLE = ("dr-a", "dr-b", "dr-c", "dr-d", "dr-e")
TIMES = [time(h, m) for h, m in ((0, 0), (0, 30), (1, 0), (1, 30), (2, 0), (2, 30), (8, 0))] + [
    time(17, 0),
    time(23, 30),
]
_ids = st.integers(0, 10**6).map(lambda n: f"x-{n}")
times = st.one_of(st.sampled_from(TIMES), st.times().map(lambda t: t.replace(microsecond=0)))


@st.composite
def ranges(draw: st.DrawFn) -> tuple[ZoneInfo, datetime, datetime]:
    """A zone and a UTC range of up to four days near one of its DST changes."""
    name = draw(st.sampled_from(sorted(ZONES)))
    zone = ZoneInfo(name)
    day = draw(st.sampled_from(ZONES[name])) + timedelta(days=draw(st.integers(-2, 1)))
    start = localize(datetime.combine(day, time()), zone)
    assert start is not None
    start += timedelta(minutes=draw(st.integers(0, 24 * 60)))
    return zone, start, start + timedelta(minutes=draw(st.integers(1, 4 * 24 * 60)))


@st.composite
def restrictions(draw: st.DrawFn) -> Restriction:
    days = draw(st.lists(st.sampled_from(list(Weekday)), min_size=1, max_size=7, unique=True))
    return Restriction(days=days, start=draw(times), end=draw(times))


@st.composite
def layers(draw: st.DrawFn, near: date, history: int = 400, restricted: bool = True) -> Layer:
    unit = draw(st.sampled_from(list(ShiftUnit)))
    lengths = {ShiftUnit.HOURS: [1, 2, 5, 8, 12, 24, 25], ShiftUnit.DAYS: [1, 2, 3]}
    start = near + timedelta(days=draw(st.integers(-history, 3)))
    end = draw(st.none() | st.integers(0, history + 5).map(lambda n: start + timedelta(days=n)))
    return Layer(
        layer_id=draw(_ids),
        role=draw(st.sampled_from(list(CoverageRole))),
        participants=draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=4)),
        shift_length=draw(st.sampled_from(lengths.get(unit, [1, 2]))),
        shift_unit=unit,
        handoff_time=draw(times),
        start_date=start,
        end_date=end,
        restrictions=draw(st.lists(restrictions(), max_size=2)) if restricted else [],
    )


@st.composite
def overrides(draw: st.DrawFn, around: datetime) -> Override:
    start = around + timedelta(minutes=draw(st.integers(-24 * 60, 4 * 24 * 60)))
    return Override(
        override_id=draw(_ids),
        role=draw(st.sampled_from(list(CoverageRole))),
        kind=draw(st.sampled_from(list(OverrideKind))),
        clinician_id=draw(st.sampled_from(PEOPLE)),
        start=start,
        end=start + timedelta(minutes=draw(st.integers(1, 2 * 24 * 60))),
    )


@st.composite
def scenarios(
    draw: st.DrawFn, history: int = 400, with_overrides: bool = True
) -> tuple[CoverageGroup, ZoneInfo, datetime, datetime]:
    zone, start, end = draw(ranges())
    near = wall(start, zone).date()
    group = CoverageGroup(
        group_id="g",
        name="Random group",
        layers=draw(st.lists(layers(near, history), min_size=1, max_size=3)),
        overrides=draw(st.lists(overrides(start), max_size=4)) if with_overrides else [],
    )
    return group, zone, start, end


def instants(start: datetime, end: datetime) -> st.SearchStrategy[list[datetime]]:
    span = int((end - start) / timedelta(microseconds=1))
    offsets = st.integers(0, span - 1).map(lambda n: start + timedelta(microseconds=n))
    return st.lists(offsets, min_size=1, max_size=8)


def containing(segments: list[Segment], instant: datetime) -> Segment:
    return next(s for s in segments if s.start <= instant < s.end)


@PROPERTY
@given(st.data(), scenarios(), st.sampled_from(list(CoverageRole)))
def test_point_queries_agree_with_render(
    data: st.DataObject,
    scenario: tuple[CoverageGroup, ZoneInfo, datetime, datetime],
    role: CoverageRole,
) -> None:
    group, zone, start, end = scenario
    segments = render(group, role, start, end, zone)
    assert segments[0].start == start and segments[-1].end == end
    for before, after in itertools.pairwise(segments):
        assert before.end == after.start and before.clinicians != after.clinicians
    for segment in segments:
        assert segment.start < segment.end
        assert on_call(group, role, segment.start, zone) == segment.clinicians
    for instant in data.draw(instants(start, end)):
        assert on_call(group, role, instant, zone) == containing(segments, instant).clinicians


@PROPERTY
@given(st.data(), scenarios(with_overrides=False))
def test_full_coverage_layer_means_exactly_one_primary(
    data: st.DataObject, scenario: tuple[CoverageGroup, ZoneInfo, datetime, datetime]
) -> None:
    group, zone, start, end = scenario
    near = wall(start, zone).date()
    bottom = data.draw(layers(near - timedelta(days=5), history=300, restricted=False))
    bottom = bottom.model_copy(update={"role": PRIMARY, "end_date": None})
    group = group.model_copy(update={"layers": [bottom, *group.layers]})
    segments = render(group, PRIMARY, start, end, zone)
    assert all(len(segment.clinicians) == 1 for segment in segments)
    for instant in data.draw(instants(start, end)):
        assert len(on_call(group, PRIMARY, instant, zone)) == 1


@PROPERTY
@given(st.data(), scenarios(), st.sampled_from(list(CoverageRole)))
def test_an_override_changes_nothing_outside_its_interval(
    data: st.DataObject,
    scenario: tuple[CoverageGroup, ZoneInfo, datetime, datetime],
    role: CoverageRole,
) -> None:
    group, zone, start, end = scenario
    extra = data.draw(overrides(start))
    changed = group.model_copy(update={"overrides": [*group.overrides, extra]})
    edges = {s.start for g in (group, changed) for s in render(g, role, start, end, zone)}
    checked = [*edges, *data.draw(instants(start, end))]
    for instant in checked:
        if not extra.start <= instant < extra.end:
            assert on_call(changed, role, instant, zone) == on_call(group, role, instant, zone)


# -- a brute-force reference -------------------------------------------------------------------


def reference_localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """Valid readings first (the earliest); else scan minute by minute past the gap."""
    valid = [
        instant
        for fold in (0, 1)
        if wall(instant := naive.replace(tzinfo=zone, fold=fold).astimezone(UTC), zone) == naive
    ]
    if valid:
        return min(valid)
    instant = naive.replace(tzinfo=zone, fold=1).astimezone(UTC).replace(second=0, microsecond=0)
    while wall(instant, zone) < naive:
        instant += timedelta(minutes=1)
    return instant


def reference_layer(layer: Layer, at: datetime, zone: ZoneInfo) -> str | None:
    first = datetime.combine(layer.start_date, layer.handoff_time)
    unit = {"hours": timedelta(hours=1), "days": timedelta(days=1), "weeks": timedelta(weeks=1)}
    step = unit[layer.shift_unit.value] * layer.shift_length
    if at < reference_localize(first, zone):
        return None
    if layer.end_date is not None:
        last = datetime.combine(layer.end_date + timedelta(days=1), layer.handoff_time)
        if at >= reference_localize(last, zone):
            return None
    if layer.restrictions:
        today = wall(at, zone).date()
        inside = False
        for r in layer.restrictions:
            for day in (today + timedelta(days=n) for n in range(-3, 2)):
                if list(Weekday)[day.weekday()] in r.days:
                    begin = reference_localize(datetime.combine(day, r.start), zone)
                    next_day = day + timedelta(days=0 if r.end > r.start else 1)
                    finish = reference_localize(datetime.combine(next_day, r.end), zone)
                    inside = inside or begin <= at < finish
        if not inside:
            return None
    k = 0
    while reference_localize(first + step * (k + 1), zone) <= at:
        k += 1
    return layer.participants[k % len(layer.participants)]


def reference_on_call(
    group: CoverageGroup, role: CoverageRole, at: datetime, zone: ZoneInfo
) -> tuple[str, ...]:
    people: list[str] = []
    for layer in group.layers:
        person = reference_layer(layer, at, zone) if layer.role == role else None
        people = [person] if person is not None else people
    for override in group.overrides:
        if override.role != role or not override.start <= at < override.end:
            continue
        if override.kind is OverrideKind.REPLACE:
            people = [override.clinician_id]
        elif override.kind is OverrideKind.ADD and override.clinician_id not in people:
            people.append(override.clinician_id)
        elif override.kind is OverrideKind.REMOVE and override.clinician_id in people:
            people.remove(override.clinician_id)
    return tuple(people)


@PROPERTY
@given(st.data(), scenarios(history=20), st.sampled_from(list(CoverageRole)))
def test_on_call_matches_a_brute_force_reference(
    data: st.DataObject,
    scenario: tuple[CoverageGroup, ZoneInfo, datetime, datetime],
    role: CoverageRole,
) -> None:
    group, zone, start, end = scenario
    edges = [s.start for s in render(group, role, start, end, zone)[1:]]
    near_edges = st.lists(st.sampled_from(edges), max_size=4) if edges else st.just([])
    tick = timedelta(microseconds=1)
    checked = [
        *data.draw(instants(start, end)),
        *(e - d for e in data.draw(near_edges) for d in (tick, timedelta(0))),
    ]
    for instant in checked:
        assert on_call(group, role, instant, zone) == reference_on_call(group, role, instant, zone)


CHANGES = sorted(
    [(name, day) for name, days in ZONES.items() for day in days]
    + [("Pacific/Apia", date(2011, 12, 30))]  # Samoa skipped this whole day
)
near_changes = st.one_of(  # mostly around the small hours, where clocks change
    st.builds(
        time,
        st.sampled_from([0, 1, 2, 3, 23]),
        st.integers(0, 59),
        st.integers(0, 59),
        st.integers(0, 999_999),
    ),
    st.times(),
)


@PROPERTY
@given(st.sampled_from(CHANGES), st.integers(-1, 1), near_changes, near_changes)
def test_localize_is_the_first_instant_reading_the_time(
    change: tuple[str, date], shift: int, first: time, second: time
) -> None:
    name, day = change
    zone = ZoneInfo(name)
    earlier, later = sorted(
        datetime.combine(day + timedelta(days=shift), t) for t in (first, second)
    )
    instant = localize(earlier, zone)
    assert instant is not None
    assert wall(instant, zone) >= earlier > wall(instant - timedelta(microseconds=1), zone)
    assert instant == reference_localize(earlier, zone)
    later_instant = localize(later, zone)
    assert later_instant is not None and instant <= later_instant
