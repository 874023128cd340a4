"""However a level ends (its pushes reached nobody, no device confirmed receipt, or
everyone declined), the next level's people are whoever the practice says at that
moment, not whoever it said when the dispatch started. The ack-timeout path is pinned
in ``test_dispatch_pages``; these are the others, in the pure decisions and through the
handlers (an administrator edits the practice mid-escalation).

Found by the mutation audit (``make mutation``). Synthetic ids only.
"""

from __future__ import annotations

from datetime import datetime

from engine.domain.dispatch import on_ack, on_pages_failed
from engine.domain.oncall import ResolvedLevel
from engine.domain.practice import SimpleSchedule
from engine.schemas.acks import AckKind
from tests.unit.dispatch_factories import fire, later, paged_ids, started
from tests.unit.handler_world import World


def _backup_is(person: str):  # type: ignore[no-untyped-def]
    """A resolver under which the primary is dr-a and the backup is now ``person``."""

    def resolve(level: int, at: datetime) -> ResolvedLevel | None:
        return ResolvedLevel(("dr-a",) if level == 0 else (person,), ("edited schedule",))

    return resolve


def test_pushes_that_reached_nobody_page_the_backup_on_call_now() -> None:
    d = started(("dr-a",), ("dr-b",), repeats=0)
    failed = on_pages_failed(d.state, 0, ("dr-a",), later(1), page=1, resolve=_backup_is("dr-x"))
    assert paged_ids(failed) == ["dr-x"]


def test_no_device_receipt_pages_the_backup_on_call_now() -> None:
    d = started(("dr-a",), ("dr-b",), repeats=0, receipt_timeout=20)
    assert paged_ids(fire(d, "receipt", resolve=_backup_is("dr-x"))) == ["dr-x"]


def test_everyone_declining_pages_the_backup_on_call_now() -> None:
    state = started(("dr-a",), ("dr-b",), repeats=0).state
    backup_now = _backup_is("dr-x")
    declined = on_ack(state, "declined", "dr-a", "evt-1", later(5), page=1, resolve=backup_now)
    assert paged_ids(declined) == ["dr-x"]


def _world() -> World:
    """Primary dr-ash, backup dr-birch (until :func:`_new_backup`), one page per level."""
    return World(timeout_s=60, repeats=0, devices=("dr-ash", "dr-birch", "dr-cole"))


def _new_backup(w: World) -> None:
    """An administrator makes dr-cole the backup."""
    w.edit_practice(schedule=SimpleSchedule(default_primary=["dr-ash"], default_backup=["dr-cole"]))


async def test_a_decline_through_the_handler_pages_the_backup_on_call_now() -> None:
    w = _world()
    dispatch_id = await w.urgent_call()
    _new_backup(w)
    await w.ack(dispatch_id, "dr-ash", AckKind.DECLINED)
    assert w.paged_ids() == ["dr-ash", "dr-cole"]


async def test_a_missed_receipt_through_the_handler_pages_the_backup_on_call_now() -> None:
    w = _world()
    w.svc.receipt_timeout_s = 20
    await w.urgent_call()
    _new_backup(w)
    await w.tick(21)
    assert w.paged_ids() == ["dr-ash", "dr-cole"]


async def test_a_failed_push_through_the_handler_pages_the_backup_on_call_now() -> None:
    """The push to the primary fails while an administrator saves a new backup."""
    w = _world()
    w.push.failing_devices = {"dr-ash-phone"}
    real_send = w.push.send

    async def send_while_edited(request):  # type: ignore[no-untyped-def]
        _new_backup(w)
        return await real_send(request)

    w.push.send = send_while_edited  # type: ignore[method-assign]
    await w.urgent_call()
    assert w.paged_ids() == ["dr-cole"]  # dr-ash's push failed (not recorded as sent)
