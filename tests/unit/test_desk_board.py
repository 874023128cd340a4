"""The desk queue's read model: alerts open, repeat and close by dispatch state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.api.desk_board import DeskBoard
from engine.schemas.dispatch import DispatchStateChanged
from engine.schemas.intake import Urgency
from engine.schemas.outbound import OperatorAlert

T0 = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def _alert(n: int, at: datetime, dispatch_id: str = "d-1") -> OperatorAlert:
    return OperatorAlert(
        dispatch_id=dispatch_id,
        practice_id="p-1",
        desk_id="desk-1",
        urgency=Urgency.URGENT,
        reason="every level silent",
        alert=n,
        at=at,
    )


def _state(to: str, at: datetime, dispatch_id: str = "d-1") -> DispatchStateChanged:
    import uuid

    return DispatchStateChanged(
        dispatch_id=dispatch_id,
        practice_id="p-1",
        intake_event_id=uuid.uuid4(),
        urgency=Urgency.URGENT,
        from_status="operator",
        to_status=to,
        trigger="accepted",
        step=3,
        level_name="desk",
        version=7,
        at=at,
    )


def test_an_alert_opens_and_its_repeats_count_up_without_moving_its_age() -> None:
    board = DeskBoard()
    first = board.on_alert(_alert(1, T0))
    again = board.on_alert(_alert(2, T0 + timedelta(minutes=1)))
    assert first is not None and first.kind == "alert"
    assert again is not None and again.item.alerts == 2
    assert board.open["d-1"].first_alerted_at == T0
    assert board.open["d-1"].last_alerted_at == T0 + timedelta(minutes=1)


def test_leaving_the_operator_status_closes_it_and_older_alerts_do_not_reopen_it() -> None:
    board = DeskBoard()
    board.on_alert(_alert(1, T0))
    assert board.on_state(_state("operator", T0)) is None
    closed = board.on_state(_state("accepted", T0 + timedelta(seconds=30)))
    assert closed is not None and closed.kind == "closed" and "d-1" not in board.open
    assert board.on_alert(_alert(2, T0 + timedelta(seconds=20))) is None  # read late
    assert "d-1" not in board.open


def test_a_close_read_before_its_alert_still_wins() -> None:
    board = DeskBoard()
    board.on_state(_state("accepted", T0 + timedelta(seconds=30)))
    assert board.on_alert(_alert(1, T0)) is None
    assert board.open == {}


def test_forgetting_old_closes_keeps_memory_bounded() -> None:
    board = DeskBoard()
    board.on_state(_state("cancelled", T0, "d-old"))
    board.on_state(_state("cancelled", T0 + timedelta(hours=2), "d-new"))
    board.forget_closed_before(T0 + timedelta(hours=1))
    assert board.on_alert(_alert(1, T0 - timedelta(minutes=1), "d-old")) is not None
    assert board.on_alert(_alert(1, T0, "d-new")) is None


def test_an_alert_read_again_is_no_change_for_consoles() -> None:
    board = DeskBoard()
    assert board.on_alert(_alert(1, T0)) is not None
    assert board.on_alert(_alert(1, T0)) is None  # a replay after a reconnect


async def test_a_console_that_stops_reading_is_closed_not_silently_dropped() -> None:
    from engine.api.desk_feed import Subscription

    sub = Subscription(size=2)
    board = DeskBoard()
    changes = [board.on_alert(_alert(1, T0, f"d-{i}")) for i in range(3)]
    assert [sub.offer(c) for c in changes if c is not None] == [True, True, False]
    assert sub.closed.is_set()
    assert await sub.next(0.01) is None  # its stream ends; the console reconnects
