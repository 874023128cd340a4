"""Benchmark of message triage: ``python bench/bench_triage.py``.

``classify()`` runs on the hot path for every intake event. For each message of the
triage corpus (tests/fixtures/triage/messages.txt, natural synthetic messages), the
best of several timed calls is taken, warm (the lexicon compiled, the words of earlier
messages cached), under the default rules and under rules with practice keywords.
Prints the median and the 90th percentile in microseconds per message, and the time
for the longest message the schema allows (8,000 characters). Target: median under
100 us per message. Exits non-zero when it is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the corpus lives in tests/

from engine.domain.practice import TriageRules
from engine.domain.triage import classify
from engine.schemas.intake import IntakeEvent
from tests.unit.triage_corpus import corpus_event, load_corpus

TARGET_MICROSECONDS = 100.0
RULE_SETS = {
    "default rules": TriageRules(),
    "with practice keywords": TriageRules(
        emergency_keywords=["blue lips", "c.diff"],
        urgent_keywords=["ear pain", "tug + ear", "dehydrated"],
    ),
}


def best_microseconds(event: IntakeEvent, rules: TriageRules, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        classify(event, rules)
        best = min(best, time.perf_counter_ns() - start)
    return best / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed calls per message")
    args = parser.parse_args()
    events = [corpus_event(m) for m in load_corpus()]
    longest = corpus_event(load_corpus()[0]).model_copy(
        update={
            "message": ("my son has a fever and keeps coughing, not sure what to do. " * 140)[:8000]
        }
    )
    ok = True
    for name, rules in RULE_SETS.items():
        for event in events:
            classify(event, rules)  # warm
        times = sorted(best_microseconds(e, rules, args.repeats) for e in events)
        median = statistics.median(times)
        p90 = times[int(0.9 * len(times))]
        long_ms = best_microseconds(longest, rules, 3) / 1000
        ok = ok and median < TARGET_MICROSECONDS
        print(
            f"classify, {name}: median {median:.1f} us, p90 {p90:.1f} us per message "
            f"({len(events)} messages); 8,000 characters: {long_ms:.2f} ms"
        )
    print(f"target median < {TARGET_MICROSECONDS:g} us: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
