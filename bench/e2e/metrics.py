"""Reading the workers' Prometheus ``/metrics`` text (prometheus-client's parser): counter
totals and histogram buckets, summed over workers, and the change between two scrapes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Scrape", "bucket_delta", "parse_scrape"]

Labels = tuple[tuple[str, str], ...]


class Scrape:
    """The samples of one or more ``/metrics`` texts, summed by name and labels."""

    def __init__(self, samples: Mapping[tuple[str, Labels], float]) -> None:
        self.samples = dict(samples)

    def total(self, name: str, **labels: str) -> float:
        """Sum of every sample called ``name`` whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= set(ls))

    def buckets(self, histogram: str, **labels: str) -> list[tuple[float, float]]:
        """Cumulative ``(le, count)`` of a histogram, ascending ``le`` (labels filtered)."""
        counts: dict[float, float] = defaultdict(float)
        want = set(labels.items())
        for (name, ls), value in self.samples.items():
            label_map = dict(ls)
            if name == f"{histogram}_bucket" and want <= set(ls):
                counts[float(label_map["le"])] += value
        return sorted(counts.items())


def parse_scrape(texts: Iterable[str]) -> Scrape:
    """Parse and sum the ``/metrics`` texts of several workers."""
    samples: dict[tuple[str, Labels], float] = defaultdict(float)
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] += sample.value
    return Scrape(samples)


def bucket_delta(
    before: list[tuple[float, float]], after: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The buckets of what a histogram counted between two scrapes."""
    earlier = dict(before)
    return [(le, count - earlier.get(le, 0.0)) for le, count in after]
