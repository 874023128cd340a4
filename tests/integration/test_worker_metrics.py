"""A worker's ``/metrics`` after traffic of its own: labelled sample values, not names.

A metric's HELP and TYPE lines print whether or not anything was counted, so finding a
name in the exposition proves nothing. This deployment sends one urgent call that
nobody answers (page, re-page, backup twice, desk) and one call for a practice it does
not serve, then reads each sample it caused by name and labels from the parsed text.
"""

from __future__ import annotations

from urllib.request import urlopen

from prometheus_client.parser import text_string_to_metric_families

from tests.integration import scenario_data as data
from tests.integration.harness import Harness, wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(h: Harness) -> tuple[str, Samples]:
    with urlopen(f"http://127.0.0.1:{h.settings.web_port}/metrics", timeout=30) as response:
        text = response.read().decode()
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_metrics_count_what_this_worker_did(own_harness: Harness) -> None:
    h = own_harness
    h.load_practice(
        data.practice("p-m", timeout_s=1.5, repeats=1), data.devices_for("dr-ash", "dr-birch")
    )
    h.start_worker()
    unanswered, unknown = data.urgent_call("p-m"), data.urgent_call("p-not-served")
    h.producer.send_intake(unanswered)
    h.producer.send_intake(unknown)
    h.producer.send_raw("intake", "p-m", b"{not json")
    ids = {unanswered.event_id, unknown.event_id}
    wait_for(
        lambda: {a.intake_event_id for a in h.read("operator.alerts")} >= ids,
        60,
        "both calls at the operator desk",
    )

    def all_four_timers_handled() -> tuple[str, Samples] | None:
        """The last timer is counted once the worker fired it and its handler is done."""
        text, samples = scrape(h)
        fired = value(samples, "nightline_timer_firings_total", outcome="fired") or 0
        return (text, samples) if fired >= 4 else None

    text, samples = wait_for(all_four_timers_handled, 30, "the four timers fired")
    assert value(samples, "nightline_call_to_push_seconds_count", urgency="urgent") == 1
    assert value(samples, "nightline_pushes_total", platform="ios", outcome="ok") == 4
    assert value(samples, "nightline_escalations_total", level="primary") == 1  # the re-page
    assert value(samples, "nightline_escalations_total", level="backup") == 2
    assert value(samples, "nightline_timer_lateness_seconds_count", kind="ack") == 4
    assert value(samples, "nightline_operator_fallbacks_total", reason="no_acknowledgement") == 1
    assert value(samples, "nightline_operator_fallbacks_total", reason="unknown_practice") == 1
    letters = "nightline_dead_letters_total"
    assert value(samples, letters, topic="intake", reason="unknown_practice") == 1
    assert value(samples, letters, topic="intake", reason="invalid_json") == 1
    assert value(samples, "nightline_operator_fallbacks_total", reason="intake_rejected") == 1
    for phi in (data.SYNTHETIC_PATIENT, data.SYNTHETIC_CALLBACK, "dizzy"):
        assert phi not in text
    with urlopen(f"http://127.0.0.1:{h.settings.web_port}/healthz", timeout=30) as response:
        assert response.status == 200
