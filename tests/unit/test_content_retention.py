"""A practice's content retention: the message is kept encrypted for as long as the
practice says (never less than a day), else for the deployment's default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from engine.domain.practice import Practice
from engine.handlers.intake import dispatch_id_for, handle_intake
from tests.unit.handler_world import HandlerWorld, World, call


async def test_the_deployment_default_without_a_practice_retention() -> None:
    world = World()
    event = call()
    await handle_intake(world.svc, event)
    assert world.vault.ttls[dispatch_id_for(event.event_id)] is None


async def test_the_practice_retention_when_it_has_one() -> None:
    base = World().svc.practices
    practice = await base.get("p-1")
    assert practice is not None
    kept = practice.model_copy(update={"content_retention_hours": 72})
    world = HandlerWorld(kept, ["dr-ash", "dr-birch"])
    event = call()
    await handle_intake(world.svc, event)
    assert world.vault.ttls[dispatch_id_for(event.event_id)] == 72 * 3600


def test_a_retention_shorter_than_a_day_is_refused() -> None:
    with pytest.raises(ValidationError, match="content_retention_hours"):
        Practice.model_validate(
            {"practice_id": "p-x", "name": "X", "timezone": "UTC", "content_retention_hours": 6}
        )


def test_a_retention_shorter_than_the_longest_escalation_is_refused() -> None:
    slow = {"ack_timeout_seconds": 8 * 3600, "repeats": 2}  # 3 pages x 8 h, twice: 48 h
    base = {"practice_id": "p-x", "name": "X", "timezone": "UTC",
            "escalation": {"routine": slow, "urgent": slow, "emergency": slow}}  # fmt: skip
    with pytest.raises(ValidationError, match="at least 49"):
        Practice.model_validate({**base, "content_retention_hours": 24})
    assert Practice.model_validate({**base, "content_retention_hours": 49})
