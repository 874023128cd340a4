"""Each acknowledgement kind the app sends does what it says to a dispatch, through the
ack handler: receipts (``received``, ``displayed``) mark the page delivered, ``read``
marks it read, only ``accepted`` takes ownership, ``declined`` escalates at once."""

from __future__ import annotations

import pytest

from engine.domain.practice import EscalationPolicy, Practice, SimpleSchedule
from engine.schemas.acks import AckKind
from engine.schemas.intake import Urgency
from tests.unit.handler_world import HandlerWorld

PAGED = ("page_sent", "sent")


def world() -> HandlerWorld:
    policy = EscalationPolicy(ack_timeout_seconds=60, repeats=0)
    practice = Practice(
        practice_id="p-acks",
        name="Synthetic Pediatrics",
        timezone="America/New_York",
        escalation={urgency: policy for urgency in Urgency},
        schedule=SimpleSchedule(default_primary=["dr-ash"], default_backup=["dr-birch"]),
        operator_desk="desk-1",
    )
    return HandlerWorld(practice, ["dr-ash", "dr-birch"])


@pytest.mark.parametrize(
    ("kind", "states", "paged"),
    [
        (AckKind.RECEIVED, [PAGED, ("received", "delivered")], ["dr-ash"]),
        (AckKind.DISPLAYED, [PAGED, ("received", "delivered")], ["dr-ash"]),
        (AckKind.READ, [PAGED, ("read", "read")], ["dr-ash"]),
        (AckKind.ACCEPTED, [PAGED, ("accepted", "accepted")], ["dr-ash"]),
        (AckKind.DECLINED, [PAGED, ("escalated", "sent")], ["dr-ash", "dr-birch"]),
        (AckKind.CALLBACK_COMPLETED, [PAGED], ["dr-ash"]),  # refused: nothing was accepted
    ],
)
async def test_each_kind_from_the_paged_clinician(
    kind: AckKind, states: list[tuple[str, str]], paged: list[str]
) -> None:
    w = world()
    dispatch_id = await w.urgent_call()
    await w.ack(dispatch_id, "dr-ash", kind)
    assert w.states(dispatch_id) == states
    assert w.paged_ids() == paged


async def test_displayed_is_a_receipt_not_a_read() -> None:
    """``displayed`` (the notification was shown) says nothing about the message being
    opened: the page is delivered, and a later ``read`` still moves it to read."""
    w = world()
    dispatch_id = await w.urgent_call()
    await w.ack(dispatch_id, "dr-ash", AckKind.DISPLAYED)
    await w.ack(dispatch_id, "dr-ash", AckKind.READ)
    assert w.states(dispatch_id)[1:] == [("received", "delivered"), ("read", "read")]


async def test_no_receipt_or_read_takes_ownership() -> None:
    """Only acceptance owns a message: after every other receipt the ack timeout still
    escalates to the backup, and then to the desk."""
    w = world()
    dispatch_id = await w.urgent_call()
    for kind in (AckKind.RECEIVED, AckKind.DISPLAYED, AckKind.READ):
        await w.ack(dispatch_id, "dr-ash", kind)
    await w.tick(61)
    assert w.paged_ids() == ["dr-ash", "dr-birch"]
    await w.tick(61)
    assert [a.dispatch_id for a in w.desk_alerts()] == [dispatch_id]
