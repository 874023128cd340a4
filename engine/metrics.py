"""Prometheus metrics of a worker. Labels are small closed sets (types, outcomes,
levels, urgencies, reason codes): never ids, names or message text.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_ACCEPT_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
_LATENESS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class Metrics:
    """Every metric of a worker, registered in one registry (fresh in tests)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "nightline_events_total",
            "Events handled, by topic, type and outcome.",
            ["topic", "type", "outcome"],
            registry=r,
        )
        self.call_to_push = Histogram(
            "nightline_call_to_push_seconds",
            "From intake received_at to the first push of a dispatch.",
            ["urgency"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.time_to_accept = Histogram(
            "nightline_time_to_accept_seconds",
            "From dispatch start to acceptance.",
            ["urgency"],
            buckets=_ACCEPT_BUCKETS,
            registry=r,
        )
        self.escalations = Counter(
            "nightline_escalations_total",
            "Steps past the first page, by level name.",
            ["level"],
            registry=r,
        )
        self.operator_fallbacks = Counter(
            "nightline_operator_fallbacks_total",
            "Dispatches handed to the operator desk.",
            ["reason"],
            registry=r,
        )
        self.timer_lateness = Histogram(
            "nightline_timer_lateness_seconds",
            "Handled minus due, for every timer.",
            ["kind"],
            buckets=_LATENESS_BUCKETS,
            registry=r,
        )
        self.timer_firings = Counter(
            "nightline_timer_firings_total",
            "Due timers fired in the worker, by outcome (fired, retry_after_lease, "
            "handed_to_agent); compare with the timers that came due.",
            ["outcome"],
            registry=r,
        )
        self.pending_timers = Gauge(
            "nightline_pending_timers", "Timers in the deadline index.", registry=r
        )
        self.effect_failures = Counter(
            "nightline_effect_failures_total",
            "Effects that failed and are left to the effect scanner, by part (publish, push, run).",
            ["part"],
            registry=r,
        )
        self.effect_retries = Counter(
            "nightline_effect_retries_total",
            "Dispatches whose effects the scanner ran again (not done by their committer).",
            registry=r,
        )
        self.pending_effects = Gauge(
            "nightline_pending_effects",
            "Dispatches with effects not done (each retried by the scanner until done).",
            registry=r,
        )
        self.stuck_effects = Gauge(
            "nightline_stuck_effects",
            "Dispatches whose effects are overdue by more than a minute: alert on > 0.",
            registry=r,
        )
        self.dead_letters = Counter(
            "nightline_dead_letters_total",
            "Records sent to the dead-letter topic.",
            ["topic", "reason"],
            registry=r,
        )
        self.pushes = Counter(
            "nightline_pushes_total",
            "Push attempts by platform and outcome.",
            ["platform", "outcome"],
            registry=r,
        )
        self.push_outcomes = Counter(
            "nightline_push_provider_outcomes_total",
            "Push sends by provider (apns, fcm) and outcome (ok, device_gone, config_error, "
            "retryable, refused, rejected, deadline, circuit_open, not_configured).",
            ["provider", "outcome"],
            registry=r,
        )
        self.push_config_errors = Counter(
            "nightline_push_config_errors_total",
            "Pushes a provider refused for a configuration error (wrong topic, key, "
            "environment or project), by provider and the provider's reason; no device is "
            "deactivated for them.",
            ["provider", "reason"],
            registry=r,
        )
        self.push_deactivations_withheld = Counter(
            "nightline_push_deactivations_withheld_total",
            "'Device gone' answers that did not deactivate a device because they came in a "
            "burst (a configuration error, not uninstalls), by provider.",
            ["provider"],
            registry=r,
        )
        self.illegal_transitions = Counter(
            "nightline_illegal_transitions_total",
            "Rejected dispatch inputs, by reason.",
            ["reason"],
            registry=r,
        )
        self.retries = Counter(
            "nightline_retries_total",
            "Transient failures (Redis, Kafka, deadlines) retried, by agent or periodic task.",
            ["part"],
            registry=r,
        )
        self.stalled = Gauge(
            "nightline_stalled",
            "1 while an agent or the timer scan has made no progress for longer than the "
            "stall limit (liveness fails), else 0.",
            ["part"],
            registry=r,
        )
        self.stalls = Counter(
            "nightline_stalls_total",
            "Times an agent or the timer scan was found stalled.",
            ["part"],
            registry=r,
        )
        self.held_messages = Counter(
            "nightline_held_messages_total",
            "Routine messages held for or released to offices.",
            ["outcome"],
            registry=r,
        )
