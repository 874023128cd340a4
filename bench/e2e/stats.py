"""The pure arithmetic of the bench: latency summaries, pairing what the fakes received
with the calls that were produced, histogram quantiles and the step-stop rule."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "Firings",
    "Pairing",
    "Push",
    "histogram_quantile",
    "next_page_after",
    "pair_firings",
    "pair_pushes",
    "percentile",
    "step_failure",
    "summary",
]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0.1 to 99.9, in steps of 0.1) of ``values``, interpolated
    between the two nearest ranks (``statistics.quantiles``, inclusive method); one value
    is its own percentile. ValueError for no values or another ``q``."""
    if not values:
        raise ValueError("no values")
    tenths = round(q * 10)
    if not 1 <= tenths <= 999 or abs(tenths - q * 10) > 1e-9:
        raise ValueError("q must be 0.1 to 99.9, in steps of 0.1")
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=1000, method="inclusive")[tenths - 1]


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """``n``, ``p50``, ``p95``, ``p99`` and ``max`` of ``values`` (None without values)."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values),
    }


@dataclass(frozen=True)
class Push:
    """One push a fake accepted: for which dispatch and page, to which token, and when."""

    dispatch_id: str
    page: int | None
    token: str
    received_at: float


@dataclass(frozen=True)
class Pairing:
    """Pushes of one page number matched with the calls that should have caused them.

    ``latencies``: per call pushed, its first push's receive time minus its send time;
    ``first_push_at``: dispatch id -> that first receive time; ``missing``: calls with
    no push; ``duplicates``: pushes beyond the first to the same device for the same
    dispatch and page; ``stray``: pushes of that page for dispatches not among the calls.
    """

    latencies: list[float]
    first_push_at: dict[str, float]
    missing: list[str]
    duplicates: int
    stray: int

    @property
    def pushed(self) -> int:
        return len(self.first_push_at)


def pair_pushes(sent_at: Mapping[str, float], pushes: Iterable[Push], page: int = 1) -> Pairing:
    """Match ``pushes`` of page ``page`` with the calls in ``sent_at`` (dispatch id -> when
    its intake event was produced, epoch seconds)."""
    first: dict[str, float] = {}
    per_device: Counter[tuple[str, str]] = Counter()
    stray = 0
    for push in pushes:
        if push.page != page:
            continue
        if push.dispatch_id not in sent_at:
            stray += 1
            continue
        per_device[(push.dispatch_id, push.token)] += 1
        earlier = first.get(push.dispatch_id)
        if earlier is None or push.received_at < earlier:
            first[push.dispatch_id] = push.received_at
    return Pairing(
        latencies=[first[d] - sent_at[d] for d in sent_at if d in first],
        first_push_at=first,
        missing=[d for d in sent_at if d not in first],
        duplicates=sum(n - 1 for n in per_device.values()),
        stray=stray,
    )


@dataclass(frozen=True)
class Firings:
    """Ack timers matched with the pages their firing sent.

    ``lateness``: timer member -> first receive time of the next page minus the timer's
    due time; ``unfired``: members with no next page; ``pushes``: member -> pushes of
    that next page (one per device of the people it paged, when nothing is repeated).
    """

    lateness: dict[str, float]
    unfired: list[str]
    pushes: dict[str, int]


def pair_firings(due_at: Mapping[str, float], pushes: Iterable[Push]) -> Firings:
    """Match ack timers (``ack|<dispatch>|<step>|<page>`` -> due time, epoch seconds) with
    the pushes of page ``<page> + 1`` of their dispatch: what firing the timer sent."""
    expect: dict[tuple[str, int], str] = {}
    for member in due_at:
        kind, dispatch_id, _, page = member.split("|")
        if kind != "ack" or not page.isdigit():
            raise ValueError(f"not a numbered ack timer: {member!r}")
        expect[(dispatch_id, int(page) + 1)] = member
    first: dict[str, float] = {}
    count: Counter[str] = Counter()
    for push in pushes:
        fired = expect.get((push.dispatch_id, push.page)) if push.page is not None else None
        if fired is None:
            continue
        count[fired] += 1
        first[fired] = min(first.get(fired, push.received_at), push.received_at)
    return Firings(
        lateness={m: first[m] - due_at[m] for m in due_at if m in first},
        unfired=[m for m in due_at if m not in first],
        pushes=dict(count),
    )


def next_page_after(
    answered_at: Mapping[tuple[str, int], float], pushes: Iterable[Push]
) -> list[float]:
    """Per answer (a decline of ``(dispatch id, page)`` at a time, epoch seconds): the
    first push of a later page of that dispatch, minus the answer's time. Answers with
    no later page are left out."""
    later: dict[str, list[Push]] = {}
    for push in pushes:
        later.setdefault(push.dispatch_id, []).append(push)
    gaps = []
    for (dispatch_id, page), at in answered_at.items():
        times = [p.received_at for p in later.get(dispatch_id, []) if (p.page or 0) > page]
        if times:
            gaps.append(min(times) - at)
    return gaps


def histogram_quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The upper bound of the bucket holding the ``q``-th percentile of a Prometheus
    histogram, from its cumulative ``(le, count)`` pairs in ascending ``le`` (the last
    one ``+Inf``); None when it counted nothing. A value past the last finite bound
    answers ``inf``."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = buckets[-1][1] * q / 100
    return next(le for le, count in buckets if count >= rank)


def step_failure(
    offered_per_s: float,
    achieved_per_s: float,
    p99_s: float | None,
    missing: int,
    calls: int,
    *,
    min_ratio: float = 0.8,
    max_p99_s: float = 5.0,
) -> str | None:
    """Why a step failed badly (the bench stops stepping up), or None when it did not:
    more than 1 % of its calls never pushed, an achieved rate under ``min_ratio`` of the
    offered one, or a call -> push p99 over ``max_p99_s``."""
    if calls and missing / calls > 0.01:
        return f"{missing} of {calls} calls not pushed"
    if achieved_per_s < min_ratio * offered_per_s:
        return f"achieved {achieved_per_s:.0f}/s < {min_ratio:.0%} of offered {offered_per_s:.0f}/s"
    if p99_s is not None and p99_s > max_p99_s:
        return f"p99 {p99_s:.2f} s > {max_p99_s:g} s"
    return None
