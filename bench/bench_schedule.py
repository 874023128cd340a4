"""Benchmark of layered on-call resolution: ``python bench/bench_schedule.py``.

1. Median ``on_call`` time for a realistic coverage group: a weekly primary
   rotation, a weeknight layer (mon-fri 17:00-08:00) and a weekend layer
   (sat, sun 08:00-08:00) on top, 10 overrides. Targets: median under 50 us.
   Reported warm (distinct instants, memoized wall-clock conversions kept) and
   cold (memo cleared before every call).
2. Memory for 10,000 practices with 3 such groups each, loaded the way practice
   files are (``Practice.model_validate`` on plain data). Target: under 300 MB.

Synthetic names only. Prints the numbers; exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.adapters.model_compaction import Compactor
from engine.domain._wall_clock import localize
from engine.domain.practice import Practice
from engine.domain.schedule import CoverageGroup, CoverageRole
from engine.domain.schedule_resolution import on_call, render

ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
TARGET_MICROSECONDS = 50.0
TARGET_MEGABYTES = 300.0
QUERY_FROM = datetime(2026, 3, 1, tzinfo=UTC)


def group_data(prefix: str, index: int, swaps: int = 10) -> dict[str, Any]:
    """A realistic group as plain data: 3 layers (two restricted) and ``swaps`` overrides."""
    people = [f"{prefix}-dr-{n}" for n in range(8)]
    overrides = []
    for n in range(swaps):
        start = QUERY_FROM + timedelta(days=3 * n, hours=n)
        overrides.append(
            {
                "override_id": f"{prefix}-g{index}-ov{n}",
                "role": "primary" if n % 4 else "backup",
                "kind": ("replace", "add", "remove")[n % 3],
                "clinician_id": people[n % 8],
                "start": start.isoformat(),
                "end": (start + timedelta(hours=12 + n)).isoformat(),
                "note": "swap",
            }
        )
    return {
        "group_id": f"{prefix}-g{index}",
        "name": f"Synthetic group {index}",
        "layers": [
            {
                "layer_id": f"{prefix}-g{index}-weekly",
                "participants": people[:4],
                "shift_length": 1,
                "shift_unit": "weeks",
                "start_date": "2021-01-04",
            },
            {
                "layer_id": f"{prefix}-g{index}-nights",
                "participants": people[4:7],
                "shift_length": 1,
                "shift_unit": "days",
                "handoff_time": "17:00",
                "start_date": "2024-06-03",
                "restrictions": [
                    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "17:00", "end": "08:00"}
                ],
            },
            {
                "layer_id": f"{prefix}-g{index}-weekend",
                "participants": people[5:8],
                "shift_length": 1,
                "shift_unit": "weeks",
                "start_date": "2025-01-04",
                "restrictions": [{"days": ["sat", "sun"], "start": "08:00", "end": "08:00"}],
            },
            {
                "layer_id": f"{prefix}-g{index}-backup",
                "role": "backup",
                "participants": people[1:3],
                "shift_length": 2,
                "shift_unit": "weeks",
                "start_date": date(2023, 1, 2).isoformat(),
            },
        ][: 3 if index % 2 else 4],
        "overrides": overrides,
    }


def practice_data(n: int, swaps: int = 10) -> dict[str, Any]:
    prefix = f"p{n:05d}"
    return {
        "practice_id": prefix,
        "name": f"Synthetic practice {n}",
        "timezone": ZONES[n % len(ZONES)],
        "clinicians": [
            {"clinician_id": f"{prefix}-dr-{k}", "display_name": f"Dr Synthetic {k}"}
            for k in range(8)
        ],
        "coverage_groups": [group_data(prefix, g, swaps) for g in range(3)],
    }


def time_on_call(group: CoverageGroup, zone: ZoneInfo, count: int, cold: bool) -> list[float]:
    """Per-call microseconds at ``count`` distinct random instants over 60 days."""
    rng = random.Random(7)
    instants = [QUERY_FROM + timedelta(seconds=rng.randrange(60 * 86400)) for _ in range(count)]
    samples = []
    for instant in instants:
        if cold:
            localize.cache_clear()
        begin = time.perf_counter_ns()
        on_call(group, CoverageRole.PRIMARY, instant, zone)
        samples.append((time.perf_counter_ns() - begin) / 1000)
    return samples


def describe(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[int(len(ordered) * 0.99)]
    return f"median {statistics.median(ordered):6.1f} us   p99 {p99:6.1f} us"


def bench_on_call(count: int) -> float:
    practice = Practice.model_validate(practice_data(0))
    group, zone = practice.coverage_groups[1], practice.zone  # 3 layers, 10 overrides
    assert len(group.layers) == 3 and len(group.overrides) == 10
    time_on_call(group, zone, 500, cold=False)  # warm up the interpreter
    warm = time_on_call(group, zone, count, cold=False)
    cold = time_on_call(group, zone, count, cold=True)
    print(f"on_call, 3 layers + 10 overrides, warm: {describe(warm)}   (target < 50 us)")
    print(f"on_call, 3 layers + 10 overrides, cold: {describe(cold)}")
    start = time.perf_counter()
    month = render(group, CoverageRole.PRIMARY, QUERY_FROM, QUERY_FROM + timedelta(days=30), zone)
    took = (time.perf_counter() - start) * 1000
    print(f"render, one role over 30 days: {took:.1f} ms, {len(month)} segments")
    return statistics.median(warm)


def bench_memory(practices: int, swaps: int, trace: bool) -> float:
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    compactor = Compactor()  # as the worker's practice cache holds them
    loaded = [
        compactor.compact(Practice.model_validate(practice_data(n, swaps)))
        for n in range(practices)
    ]
    seconds = time.perf_counter() - start
    gc.collect()
    if trace:
        traced = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        print(f"tracemalloc: {traced:.1f} MB held by the loaded practices")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
    groups = sum(len(p.coverage_groups) for p in loaded)
    print(
        f"{practices:,} practices, {groups:,} groups ({swaps} overrides each) "
        f"loaded in {seconds:.1f} s: "
        f"peak RSS grew {rss:.1f} MB (target < 300 MB), "
        f"{rss * 1024 / practices:.1f} KB per practice"
    )
    return traced if trace else rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--practices", type=int, default=10_000)
    parser.add_argument("--overrides", type=int, default=10, help="per group, for memory")
    parser.add_argument("--tracemalloc", action="store_true", help="slower, exact Python heap")
    args = parser.parse_args()
    median = bench_on_call(args.queries)
    megabytes = bench_memory(args.practices, args.overrides, args.tracemalloc)
    scale = 10_000 / args.practices
    ok = median < TARGET_MICROSECONDS and megabytes * scale < TARGET_MEGABYTES
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
