"""Fuzzed intake through the real worker: whatever arrives, valid or not, every record
ends in exactly one of dispatched, held, delivered to the office, or dead-lettered with
a desk alert. Never nothing. Checked with ``nightline verify``, the SREs' own tool."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.cli import main
from engine.settings import Settings
from tests.integration import scenario_data as data
from tests.integration.harness import Harness, wait_for

PRACTICE = "p-fuzz"
MAX_BYTES = 4096
KINDS = {
    "voice_call": {"call_id": "c-1"},
    "voicemail": {"call_id": "c-2", "duration_seconds": 30},
    "sms": {},
    "chat": {"session_id": "s-1"},
    "email": {"subject": "about my child"},
    "web_form": {"form_id": "f-1"},
}
REASONS = ["office_routine", "appointment", "billing", "prescription_refill", "symptoms",
           "wants_on_call", "stat_lab_result", "other"]  # fmt: skip
CALLERS = ["patient", "parent_guardian", "pharmacy", "hospital", "nursing_home", "other"]
PHI_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@pytest.fixture(scope="module")
def fuzz_harness(
    stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    env = {"NIGHTLINE_MAX_EVENT_BYTES": str(MAX_BYTES)}
    h = Harness(stack_settings, tmp_path_factory.mktemp("fuzz"), env)
    h.load_practice(data.practice(PRACTICE, timeout_s=600), data.devices_for("dr-ash"))
    h.start_worker()
    yield h
    h.close()


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(KINDS)))
    event: dict[str, Any] = {
        "kind": kind,
        "event_id": str(draw(st.uuids())),  # repeats happen: each record still ends somewhere
        "practice_id": draw(st.sampled_from([PRACTICE, PRACTICE, "p-nowhere"])),
        "source_system": "fuzz-pbx",
        "received_at": datetime.now(UTC).isoformat(),
        "caller": {"type": draw(st.sampled_from(CALLERS))},
        "reason": draw(st.sampled_from(REASONS)),
        "message": draw(PHI_TEXT),
        **KINDS[kind],
    }
    if draw(st.booleans()):
        event["patient"] = {"name": draw(st.text(min_size=1, max_size=40).filter(str.strip))}
    if kind == "voice_call":
        event["caller_on_hold"] = draw(st.booleans())
    if draw(st.booleans()):
        event["operator_urgency"] = draw(st.sampled_from(["routine", "urgent", "emergency"]))
    return event


def _broken(event: dict[str, Any], how: str, filler: str) -> bytes:
    """``event`` made invalid in one of the ways a PBX update or a bug would."""
    changed = dict(event)
    if how == "missing":
        del changed["caller"]
    elif how == "extra":
        changed[filler[:20] or "x"] = filler
    elif how == "naive":
        changed["received_at"] = "2026-01-05T03:00:00"
    elif how == "kind":
        changed["kind"] = filler or "fax"
    elif how == "type":
        changed["caller"] = filler
    elif how == "oversize":
        changed["message"] = "x" * (MAX_BYTES + 10)
    elif how == "not-json":
        return b"{" + filler.encode()
    elif how == "array":
        return json.dumps([changed]).encode()
    return json.dumps(changed).encode()


RECORDS = st.lists(
    st.one_of(
        valid_events().map(lambda e: ("valid", e, b"")),
        st.tuples(
            st.sampled_from(
                ["missing", "extra", "naive", "kind", "type", "oversize", "not-json", "array"]
            ),
            valid_events(),
            PHI_TEXT,
        ).map(lambda t: ("broken", t[1], _broken(t[1], t[0], t[2]))),
    ),
    min_size=25,
    max_size=40,
)


def _verify(h: Harness, since: str) -> dict[str, Any]:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": h.settings.kafka_servers,
        "REDIS_URL": h.settings.redis_dsn,
        "NIGHTLINE_TOPIC_PREFIX": h.prefix,
    }
    result = CliRunner().invoke(
        main, ["verify", "--since", since, "--grace", "0s", "--json"], env=env
    )
    assert result.exit_code in (0, 1), result.output
    report: dict[str, Any] = json.loads(result.output)
    return report


@settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(records=RECORDS, reuse=st.booleans())
def test_every_intake_record_ends_somewhere(
    fuzz_harness: Harness, records: list[tuple[str, dict[str, Any], bytes]], reuse: bool
) -> None:
    h = fuzz_harness
    sent = 0
    for what, event, raw in records:
        value = json.dumps(event).encode() if what == "valid" else raw
        h.producer.send_raw("intake", str(event["practice_id"]), value)
        sent += 1
    valid = [e for what, e, _ in records if what == "valid"]
    if reuse and valid:  # the same event id again, with other content: a conflict
        h.producer.send_raw(
            "intake", PRACTICE, json.dumps(valid[0] | {"message": "other"}).encode()
        )
        sent += 1

    def settled() -> dict[str, Any]:
        report = _verify(h, "10m")
        return report if report["ok"] and "pending" not in report["counts"] else {}

    report = wait_for(settled, 60, "every intake record to reach an outcome", every=0.5)
    allowed = {"dispatched", "held", "delivered_to_office", "dead_lettered_with_desk_alert"}
    assert set(report["counts"]) <= allowed, report
    assert report["violations"] == []
    assert sum(report["counts"].values()) >= sent  # every record judged (plus earlier ones)


def test_verify_finds_a_record_nobody_handled(stack_settings: Settings, tmp_path: Path) -> None:
    """The checker can fail: intake on a deployment whose worker is not running."""
    h = Harness(stack_settings, tmp_path)
    try:
        event = data.urgent_call(PRACTICE)
        h.producer.send_intake(event)
        report = _verify(h, "5m")
        assert report["ok"] is False
        [violation] = report["violations"]
        assert (violation["event_id"], violation["outcome"]) == (str(event.event_id), "no_outcome")
        assert datetime.fromisoformat(violation["at"]) > datetime.now(UTC) - timedelta(minutes=5)
    finally:
        h.close()
