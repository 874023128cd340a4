"""Every effect a decision can ask for survives the outbox's JSON unchanged, so a crash
between the commit and the effects loses nothing.

Found by the mutation audit (``make mutation``): no unit test read effects back.
"""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime

import pytest

from engine.domain.dispatch import (
    AuditEntry,
    CancelTimer,
    Effect,
    NotifyOperatorDesk,
    PagePerson,
    ScheduleTimer,
    StateChanged,
    TransferCall,
)
from engine.domain.state_machine import DispatchStatus, Trigger
from engine.handlers.outbox import effect_from_dict, effect_to_dict

EXAMPLES = [
    PagePerson(step=2, attempt=1, clinician_id="dr-ash", page=3),
    ScheduleTimer(step=2, due_at=datetime(2026, 1, 6, 8, 1, 30, 500000, tzinfo=UTC), page=3),
    ScheduleTimer(step=0, due_at=datetime(2026, 1, 6, 8, 0, tzinfo=UTC), page=1, kind="receipt"),
    CancelTimer(step=1, page=2, kind="receipt"),
    NotifyOperatorDesk(desk_id="desk-9", reason="no acknowledgement", page=5, alert=2),
    TransferCall(call_id="c-77", clinician_id="dr-ash"),
    AuditEntry("accepted", "dr-ash", "sent", "accepted", 0, "accepted at primary (page 1)"),
    AuditEntry("page_sent", "system", None, "sent", 0, "dispatch started"),
    StateChanged(DispatchStatus.SENT, DispatchStatus.ACCEPTED, 0, Trigger.ACCEPTED),
    StateChanged(None, DispatchStatus.OPERATOR, 4, Trigger.HANDED_TO_OPERATOR),
]


def test_the_examples_cover_every_kind_of_effect() -> None:
    assert {type(e) for e in EXAMPLES} == set(typing.get_args(Effect))


@pytest.mark.parametrize("effect", EXAMPLES, ids=lambda e: type(e).__name__)
def test_an_effect_comes_back_from_the_outbox_as_it_went_in(effect: object) -> None:
    stored = json.loads(json.dumps(effect_to_dict(effect)))  # as the store keeps it
    assert effect_from_dict(stored) == effect
