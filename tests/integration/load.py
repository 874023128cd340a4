"""Urgent calls at a steady rate with an outage in the middle, and the checks the fault
tests make afterwards: every call dispatched, every state transition committed once,
every dispatch paged and finally handed to the operator desk."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from engine.handlers.intake import dispatch_id_for
from tests.integration import scenario_data as data
from tests.integration.harness import Harness, wait_for

PRACTICE = "p-fault"


def load_two_level_practice(h: Harness) -> None:
    """Re-page after 2 s, then the backup twice, then the operator desk: timers fire
    all through the test, outage included."""
    h.load_practice(
        data.practice(PRACTICE, timeout_s=2.0, repeats=1), data.devices_for("dr-ash", "dr-birch")
    )


def publish_through_an_outage(
    h: Harness,
    *,
    rate_per_s: float,
    duration_s: float,
    outage_at_s: float,
    outage: Callable[[], None],
    send_timeout_s: float = 10.0,
) -> tuple[list[str], threading.Thread]:
    """Publish urgent calls at a steady rate; run ``outage`` in a thread at ``outage_at_s``.

    Returns the dispatch ids and the outage thread (joined by the caller)."""
    ids: list[str] = []
    outage_thread = threading.Thread(target=outage, daemon=True)
    start = time.monotonic()
    for n in range(int(rate_per_s * duration_s)):
        time.sleep(max(0.0, start + n / rate_per_s - time.monotonic()))
        if n == int(rate_per_s * outage_at_s):
            outage_thread.start()
        event = data.urgent_call(PRACTICE)
        h.producer.send_intake(event, timeout_s=send_timeout_s)
        ids.append(dispatch_id_for(event.event_id))
    return ids, outage_thread


def assert_every_call_dispatched_once_and_escalated(h: Harness, ids: list[str]) -> None:
    wanted = set(ids)

    def operator_alerts() -> set[str]:
        if h.process is not None and h.process.poll() is not None:
            raise AssertionError(f"worker exited:\n{h.log_text()[-3000:]}")
        return {a.dispatch_id for a in h.read("operator.alerts") if a.dispatch_id in wanted}

    wait_for(lambda: operator_alerts() == wanted, 180, "every dispatch to reach the operator")
    missing = [d for d in ids if not h.redis.exists(h.keys.dispatch(d))]
    assert missing == [], f"{len(missing)} calls have no dispatch in Redis"

    def histories() -> dict[str, dict[Any, Any]] | None:
        """Each dispatch's state events by id, once every one has versions 1..n with no
        gap (an event whose publish failed is sent again later by the effect scanner)."""
        states: dict[str, dict[Any, Any]] = defaultdict(dict)
        for event in h.read("dispatch.state"):
            if event.dispatch_id in wanted:
                states[event.dispatch_id][event.event_id] = event  # duplicates by id collapse
        if set(states) != wanted:
            return None
        for by_id in states.values():
            versions = sorted({e.version for e in by_id.values()})
            if versions != list(range(1, len(versions) + 1)):
                return None
        return states

    states = wait_for(histories, 90, "every dispatch's state events, versions without a gap")
    for dispatch_id, by_id in states.items():
        versions = Counter(e.version for e in by_id.values())
        transitions = Counter((e.from_status, e.to_status, e.step) for e in by_id.values())
        assert max(versions.values()) == 1, (dispatch_id, versions)
        assert max(transitions.values()) == 1, (dispatch_id, transitions)
    unpaged = [d for d in ids if not h.pushes(d)]
    assert unpaged == [], f"{len(unpaged)} dispatches were never pushed"
    letters = [d for d in h.read("deadletter") if d.reason_code == "handler_error"]
    assert letters == [], "no call gave up on its retries"
