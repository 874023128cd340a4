"""The pipeline end to end on real Kafka and Redis, through a real worker
process: dispatch, re-page, escalation, accept, decline, operator fallback,
dedupe and dead letters (scenarios a-d, f-h of issue 2)."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

from engine.handlers.intake import dispatch_id_for
from engine.schemas.acks import AckKind, Acknowledgement
from tests.integration import scenario_data as data
from tests.integration.harness import Harness, wait_for


def _ack(dispatch_id: str, clinician: str, kind: AckKind) -> Acknowledgement:
    from datetime import UTC, datetime

    return Acknowledgement(
        dispatch_id=dispatch_id, clinician_id=clinician, kind=kind, at=datetime.now(UTC)
    )


def _states(h: Harness, dispatch_id: str) -> list[Any]:
    return [e for e in h.read("dispatch.state") if e.dispatch_id == dispatch_id]


def test_a_urgent_call_pages_the_primary_without_phi(harness: Harness) -> None:
    harness.load_practice(
        data.practice("p-a", timeout_s=60), data.devices_for("dr-ash", "dr-birch")
    )
    event = data.urgent_call("p-a")
    harness.producer.send_intake(event)
    dispatch_id = dispatch_id_for(event.event_id)
    pushes = wait_for(lambda: harness.pushes(dispatch_id), 10, "the first push")
    assert [(p["clinician_id"], p["step"], p["attempt"]) for p in pushes] == [("dr-ash", 0, 1)]
    envelope = json.dumps(pushes)
    for phi in (data.SYNTHETIC_PATIENT, data.SYNTHETIC_CALLBACK, "Fever", "dizzy"):
        assert phi not in envelope
    states = wait_for(lambda: _states(harness, dispatch_id), 10, "state event")
    assert states[0].to_status == "sent" and states[0].urgency == "urgent"


def test_b_no_ack_repages_then_backup_then_operator(harness: Harness) -> None:
    harness.load_practice(
        data.practice("p-b", timeout_s=1.5, repeats=1), data.devices_for("dr-ash", "dr-birch")
    )
    event = data.urgent_call("p-b")
    harness.producer.send_intake(event)
    dispatch_id = dispatch_id_for(event.event_id)
    alerts = wait_for(
        lambda: [a for a in harness.read("operator.alerts") if a.dispatch_id == dispatch_id],
        30,
        "operator alert",
    )
    pushes = harness.pushes(dispatch_id)
    assert [(p["clinician_id"], p["step"], p["attempt"]) for p in pushes] == [
        ("dr-ash", 0, 1),
        ("dr-ash", 1, 2),
        ("dr-birch", 2, 1),
        ("dr-birch", 3, 2),
    ]
    gaps = [b["sent_at_unix"] - a["sent_at_unix"] for a, b in itertools.pairwise(pushes)]
    assert all(gap >= 1.4 for gap in gaps), gaps
    assert len(alerts) == 1 and alerts[0].desk_id == "desk-1"
    audit = wait_for(  # (a new consumer's first poll may come back empty)
        lambda: [a for a in harness.read("audit") if a.subject_id == dispatch_id],
        15,
        "the audit trail",
    )
    assert all(data.SYNTHETIC_PATIENT not in a.model_dump_json() for a in audit)


def test_c_accept_stops_escalation_and_nobody_else_can_accept(harness: Harness) -> None:
    harness.load_practice(
        data.practice("p-c", timeout_s=1.5), data.devices_for("dr-ash", "dr-birch")
    )
    event = data.urgent_call("p-c")
    harness.producer.send_intake(event)
    dispatch_id = dispatch_id_for(event.event_id)
    wait_for(lambda: harness.pushes(dispatch_id), 10, "first push")
    harness.producer.send_ack(_ack(dispatch_id, "dr-ash", AckKind.ACCEPTED))
    wait_for(
        lambda: any(s.to_status == "accepted" for s in _states(harness, dispatch_id)),
        10,
        "accepted",
    )
    harness.producer.send_ack(_ack(dispatch_id, "dr-birch", AckKind.ACCEPTED))
    refused = wait_for(
        lambda: [
            a
            for a in harness.read("audit")
            if a.subject_id == dispatch_id and a.action == "accepted_refused"
        ],
        10,
        "the second acceptance refused",
    )
    assert refused[0].actor == "dr-birch"
    stored = json.loads(harness.redis.hget(harness.keys.dispatch(dispatch_id), "state"))
    assert (stored["status"], stored["accepted_by"]) == ("accepted", "dr-ash")
    pending = [m.decode() for m in harness.redis.zrange(harness.keys.timers, 0, -1)]
    assert not [m for m in pending if dispatch_id in m]  # every timer cancelled with the accept
    accepted = [s for s in _states(harness, dispatch_id) if s.to_status == "accepted"]
    assert len(accepted) == 1 and len(harness.pushes(dispatch_id)) == 1


def test_d_decline_escalates_at_once(harness: Harness) -> None:
    harness.load_practice(
        data.practice("p-d", timeout_s=120), data.devices_for("dr-ash", "dr-birch")
    )
    event = data.urgent_call("p-d")
    harness.producer.send_intake(event)
    dispatch_id = dispatch_id_for(event.event_id)
    wait_for(lambda: harness.pushes(dispatch_id), 10, "first push")
    harness.producer.send_ack(_ack(dispatch_id, "dr-ash", AckKind.DECLINED))
    pushes = wait_for(
        lambda: [p for p in harness.pushes(dispatch_id) if p["clinician_id"] == "dr-birch"],
        10,
        "backup paged",
    )
    assert pushes[0]["attempt"] == 1
    assert len([p for p in harness.pushes(dispatch_id) if p["clinician_id"] == "dr-ash"]) == 1


def test_f_nobody_on_call_goes_to_the_operator_desk(harness: Harness) -> None:
    harness.load_practice(data.practice("p-f", primary=(), backup=()), [])
    event = data.urgent_call("p-f")
    harness.producer.send_intake(event)
    dispatch_id = dispatch_id_for(event.event_id)
    alerts = wait_for(
        lambda: [a for a in harness.read("operator.alerts") if a.dispatch_id == dispatch_id],
        10,
        "operator alert",
    )
    assert alerts[0].desk_id == "desk-1"
    assert harness.pushes(dispatch_id) == []


def test_f2_clinician_without_device_escalates_instead_of_waiting(harness: Harness) -> None:
    practice = data.practice("p-f2", timeout_s=120, primary=("dr-nodevice",), backup=("dr-elm",))
    harness.load_practice(practice, data.devices_for("dr-elm"))
    event = data.urgent_call("p-f2")
    harness.producer.send_intake(event)
    dispatch_id = dispatch_id_for(event.event_id)
    pushes = wait_for(lambda: harness.pushes(dispatch_id), 10, "backup paged")
    assert [(p["clinician_id"], p["step"]) for p in pushes] == [("dr-elm", 2)]


def test_g_same_event_twice_dispatches_once(harness: Harness) -> None:
    harness.load_practice(data.practice("p-g", timeout_s=120), data.devices_for("dr-ash"))
    event = data.urgent_call("p-g", event_id=uuid.uuid4())
    harness.producer.send_intake(event)
    harness.producer.send_intake(event)
    dispatch_id = dispatch_id_for(event.event_id)
    wait_for(lambda: harness.pushes(dispatch_id), 10, "first push")
    marker = data.urgent_call("p-g")  # sent after the duplicate: once it is paged, both were read
    harness.producer.send_intake(marker)
    marker_id = dispatch_id_for(marker.event_id)
    wait_for(lambda: harness.pushes(marker_id), 10, "marker push")
    assert len(harness.pushes(dispatch_id)) == 1
    wait_for(lambda: _states(harness, marker_id), 10, "marker state event")
    assert len([s for s in _states(harness, dispatch_id) if s.to_status == "sent"]) == 1


def test_h_malformed_events_go_to_dead_letters_and_the_worker_goes_on(harness: Harness) -> None:
    harness.load_practice(data.practice("p-h", timeout_s=120), data.devices_for("dr-ash"))
    harness.producer.send_raw("intake", "p-h", b"{not json")
    bad = json.loads(data.urgent_call("p-h").model_dump_json())
    bad["received_at"] = "2026-01-01T03:00:00"  # naive datetime: rejected
    bad["surprise"] = 1
    harness.producer.send_raw("intake", "p-h", json.dumps(bad).encode())
    unknown = data.urgent_call("p-unknown")
    harness.producer.send_intake(unknown)
    good = data.urgent_call("p-h")
    harness.producer.send_intake(good)
    wait_for(lambda: harness.pushes(dispatch_id_for(good.event_id)), 10, "good event paged")
    wanted = {"invalid_json", "schema_violation", "unknown_practice"}

    def letters() -> list[Any]:
        found = [
            d
            for d in harness.read("deadletter")
            if d.reason_code != "schema_violation" or "received_at" in d.reason
        ]
        return found if wanted <= {d.reason_code for d in found} else []

    found = wait_for(letters, 10, "three dead letters")
    violation = next(d for d in found if d.reason_code == "schema_violation")
    assert "voice_call.received_at: value_error" in violation.reason
    assert "voice_call.*: extra_forbidden" in violation.reason  # the unknown key is cut
    assert "surprise" not in violation.reason
    assert data.SYNTHETIC_PATIENT not in violation.model_dump_json()
    assert (violation.practice_id, str(violation.intake_event_id)) == ("p-h", bad["event_id"])

    def alerts() -> dict[str, Any]:
        """The desk alert of each dead letter, by reason code (matched by source offset)."""
        places = {(d.source_partition, d.source_offset): d.reason_code for d in found}
        seen = {
            places[(a.source_partition, a.source_offset)]: a
            for a in harness.read("operator.alerts")
            if (a.source_partition, a.source_offset) in places and a.reason_code in wanted
        }
        return seen if set(seen) == wanted else {}

    by_code = wait_for(alerts, 10, "a desk alert for every intake dead letter")
    expected = {
        "invalid_json": ("operator-desk", "unknown", None),
        "schema_violation": ("desk-1", "p-h", str(bad["event_id"])),
        "unknown_practice": ("operator-desk", "p-unknown", str(unknown.event_id)),
    }
    for code, (desk, practice_id, event_id) in expected.items():
        alert = by_code[code]
        assert (alert.desk_id, alert.practice_id) == (desk, practice_id), code
        assert (str(alert.intake_event_id) if alert.intake_event_id else None) == event_id
        assert alert.urgency == "urgent" and alert.dispatch_id.startswith("dl-")
        assert data.SYNTHETIC_PATIENT not in alert.model_dump_json()
    assert harness.process is not None and harness.process.poll() is None
