"""The end-to-end bench's arithmetic: percentiles, pairing what the fakes received with
the calls and timers that caused it, histogram quantiles, and the step-stop rule."""

from __future__ import annotations

import math
import random

import pytest

from bench.e2e.stats import (
    Push,
    histogram_quantile,
    next_page_after,
    pair_firings,
    pair_pushes,
    percentile,
    step_failure,
    summary,
)


def test_percentiles_interpolate_between_ranks_in_any_order() -> None:
    values = [40.0, 10.0, 30.0, 20.0]  # sorted: 10 20 30 40; rank (n - 1) * q
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)  # 30 + 0.85 * 10
    assert percentile(values, 0.1) == pytest.approx(10.03)
    hundred = [float(n) for n in range(1, 101)]
    random.Random(1).shuffle(hundred)
    assert percentile(hundred, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("q", [0, 100, 50.05, -1])
def test_percentile_refuses_what_it_cannot_answer(q: float) -> None:
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0, 2.0], q)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_summary() -> None:
    assert summary([]) == {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    found = summary([0.3, 0.1, 0.2])
    assert found["n"] == 3 and found["max"] == 0.3
    assert found["p50"] == pytest.approx(0.2) and found["p99"] == pytest.approx(0.298)


def test_pushes_pair_with_the_calls_that_caused_them() -> None:
    sent = {"d-a": 100.0, "d-b": 101.0, "d-c": 102.0}
    pushes = [
        Push("d-a", 1, "tok-1", 100.07),
        Push("d-a", 1, "tok-2", 100.05),  # the same page on a second device: not repeated
        Push("d-a", 1, "tok-1", 100.09),  # the same device again: repeated
        Push("d-b", 2, "tok-1", 101.5),  # another page: not the call's first push
        Push("d-c", 1, "tok-3", 102.5),
        Push("d-x", 1, "tok-3", 102.6),  # not one of these calls
    ]
    pairing = pair_pushes(sent, pushes)
    assert pairing.latencies == [pytest.approx(0.05), pytest.approx(0.5)]
    assert pairing.first_push_at == {"d-a": 100.05, "d-c": 102.5}
    assert pairing.missing == ["d-b"] and pairing.pushed == 2
    assert (pairing.duplicates, pairing.stray) == (1, 1)
    assert pair_pushes(sent, pushes, page=2).first_push_at == {"d-b": 101.5}


def test_timers_pair_with_the_next_page_of_their_dispatch() -> None:
    due = {"ack|d-1|0|1": 10.0, "ack|d-2|0|1": 20.0, "ack|d-3|1|2": 30.0}
    pushes = [
        Push("d-1", 1, "tok-1", 5.0),  # the page the timer was set for
        Push("d-1", 2, "tok-2", 10.3),
        Push("d-1", 2, "tok-3", 10.2),
        Push("d-3", 3, "tok-2", 30.1),
        Push("d-9", 2, "tok-1", 11.0),
    ]
    fired = pair_firings(due, pushes)
    assert fired.lateness == {"ack|d-1|0|1": pytest.approx(0.2), "ack|d-3|1|2": pytest.approx(0.1)}
    assert fired.unfired == ["ack|d-2|0|1"]
    assert fired.pushes == {"ack|d-1|0|1": 2, "ack|d-3|1|2": 1}


@pytest.mark.parametrize("member", ["rcpt|d-1|0|1", "ack|d-1|0", "rel|p|h"])
def test_only_numbered_ack_timers_pair(member: str) -> None:
    with pytest.raises(ValueError):
        pair_firings({member: 1.0}, [])


def test_next_page_after_a_decline() -> None:
    declined = {("d-1", 1): 5.0, ("d-2", 1): 6.0, ("d-3", 2): 7.0}
    pushes = [
        Push("d-1", 1, "tok-1", 4.0),
        Push("d-1", 3, "tok-2", 5.9),
        Push("d-1", 2, "tok-2", 5.3),
        Push("d-2", 1, "tok-1", 6.5),  # the declined page again: not a next page
        Push("d-3", 3, "tok-1", 7.25),
    ]
    assert sorted(next_page_after(declined, pushes)) == [pytest.approx(0.25), pytest.approx(0.3)]


def test_histogram_quantiles_are_bucket_upper_bounds() -> None:
    buckets = [(0.1, 5.0), (0.25, 9.0), (0.5, 10.0), (math.inf, 10.0)]
    assert histogram_quantile(buckets, 50) == 0.1
    assert histogram_quantile(buckets, 90) == 0.25
    assert histogram_quantile(buckets, 99) == 0.5
    assert histogram_quantile(buckets, 100) == 0.5
    assert histogram_quantile([(0.1, 0.0), (math.inf, 2.0)], 50) == math.inf
    assert histogram_quantile([(0.1, 0.0), (math.inf, 0.0)], 50) is None
    assert histogram_quantile([], 50) is None


def test_a_step_fails_badly_when_calls_go_missing_the_rate_drops_or_p99_soars() -> None:
    assert step_failure(1000, 990, 0.05, 0, 20_000) is None
    assert step_failure(1000, 800, 5.0, 200, 20_000) is None  # the limits themselves pass
    assert "201 of 20000 calls not pushed" in str(step_failure(1000, 990, 0.05, 201, 20_000))
    assert "achieved 799/s" in str(step_failure(1000, 799, 0.05, 0, 20_000))
    assert "p99 5.01 s" in str(step_failure(1000, 990, 5.01, 0, 20_000))
    assert step_failure(1000, 900, None, 0, 0) is None
    assert step_failure(1000, 940, 0.5, 0, 10, min_ratio=0.95, max_p99_s=1.0) is not None
    assert step_failure(1000, 960, 1.5, 0, 10, min_ratio=0.95, max_p99_s=1.0) is not None
