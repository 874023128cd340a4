"""The pipeline pages whoever the layered schedule says is on call, and follows
the escalation policy's own levels and timeouts (issue 3)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from engine.domain.oncall import resolve_chain
from engine.domain.practice import Practice
from engine.handlers.intake import dispatch_id_for
from engine.schemas.intake import Urgency
from tests.integration import scenario_data as data
from tests.integration.harness import Harness, wait_for


def layered_practice(now: datetime) -> Practice:
    """Weekly primary rotation, a backup layer, an override on the primary right now,
    and a policy: primary 1 s, backup 1.5 s with one re-page, the chief 1 s, then the desk
    (emergencies borrow its levels, at a practice-wide pace no slower than 1 s)."""
    start = (now - timedelta(days=30)).date()
    return Practice.model_validate(
        {
            "practice_id": "p-layers",
            "name": "Layered",
            "timezone": "America/Chicago",
            "operator_desk": "desk-7",
            "clinicians": [
                {"clinician_id": c, "display_name": c.title()}
                for c in ("dr-oak", "dr-pine", "dr-fir", "dr-yew", "dr-chief")
            ],
            "coverage_groups": [
                {
                    "group_id": "peds",
                    "name": "Pediatrics after hours",
                    "layers": [
                        {
                            "layer_id": "weekly",
                            "role": "primary",
                            "participants": ["dr-oak", "dr-pine"],
                            "shift_length": 1,
                            "shift_unit": "weeks",
                            "start_date": start.isoformat(),
                        },
                        {
                            "layer_id": "second",
                            "role": "backup",
                            "participants": ["dr-fir"],
                            "shift_length": 1,
                            "shift_unit": "days",
                            "start_date": start.isoformat(),
                        },
                    ],
                    "overrides": [
                        {
                            "override_id": "swap",
                            "role": "primary",
                            "kind": "replace",
                            "clinician_id": "dr-yew",
                            "start": (now - timedelta(hours=1)).isoformat(),
                            "end": (now + timedelta(hours=1)).isoformat(),
                        }
                    ],
                }
            ],
            "escalation": {
                "emergency": {"ack_timeout_seconds": 1.0, "repeats": 0},
                "urgent": {"ack_timeout_seconds": 300, "repeats": 1},
                "routine": {"ack_timeout_seconds": 1800, "repeats": 0},
            },
            "escalation_policies": {
                "urgent": {
                    "levels": [
                        {
                            "name": "primary",
                            "ack_timeout_seconds": 1.0,
                            "targets": [{"kind": "role", "role": "primary"}],
                        },
                        {
                            "name": "backup",
                            "ack_timeout_seconds": 1.5,
                            "repeats": 1,
                            "targets": [{"kind": "role", "role": "backup"}],
                        },
                        {
                            "name": "chief",
                            "ack_timeout_seconds": 1.0,
                            "targets": [{"kind": "clinician", "clinician_id": "dr-chief"}],
                        },
                    ]
                }
            },
        }
    )


def test_pipeline_follows_the_schedule_and_the_policy(harness: Harness) -> None:
    now = datetime.now(UTC)
    practice = layered_practice(now)
    chain = resolve_chain(practice, now, Urgency.URGENT)
    assert [lvl.targets for lvl in chain.levels] == [
        ("dr-yew",),
        ("dr-fir",),
        ("dr-chief",),
        ("desk-7",),
    ]
    harness.load_practice(
        practice, data.devices_for("dr-oak", "dr-pine", "dr-fir", "dr-yew", "dr-chief")
    )
    event = data.urgent_call("p-layers")
    harness.producer.send_intake(event)
    dispatch_id = dispatch_id_for(event.event_id)
    wait_for(
        lambda: [a for a in harness.read("operator.alerts") if a.dispatch_id == dispatch_id],
        30,
        "operator alert",
    )
    pushes = harness.pushes(dispatch_id)
    assert [(p["clinician_id"], p["attempt"]) for p in pushes] == [
        ("dr-yew", 1),
        ("dr-fir", 1),
        ("dr-fir", 2),
        ("dr-chief", 1),
    ]
    gaps = [b["sent_at_unix"] - a["sent_at_unix"] for a, b in itertools.pairwise(pushes)]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.4 and gaps[2] >= 1.4, gaps
