"""The deadline scanner: claim due timers from the index and turn each into a command
(keyed by dispatch or held id), handled idempotently. The worker fires the commands
in-process, many at once (:mod:`engine.handlers.timer_firing`): a firing is never
queued behind a backlog while its claim runs out, so it is not fired again meanwhile.
Without ``fire``, the commands are published to the dispatch-commands topic instead.

Every worker runs the scanner (claims are atomic in Redis, so one timer is
claimed by one worker; if that worker dies the lease expires and another
claims it). A claimed timer stays in the index until its handler removes it.
Members: ``ack|<dispatch_id>|<step>|<page>`` (acknowledgement deadline of one page; at
the desk step, the desk's re-alert), ``rcpt|<dispatch_id>|<step>|<page>`` (device
receipt deadline) and ``rel|<practice_id>|<held_id>``. Members written before pages
were numbered (``ack|<dispatch_id>|<step>``) still fire, without a page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from engine.handlers.services import Services
from engine.schemas.dispatch import FireAckTimer, FireReceiptTimer, ReleaseHeldMessage

Command = FireAckTimer | FireReceiptTimer | ReleaseHeldMessage
Fire = Callable[[str, Command], Awaitable[None]]

__all__ = [
    "ack_timer_member",
    "receipt_timer_member",
    "release_timer_member",
    "scan_due_timers",
    "timer_member",
]

_PREFIX = {"ack": "ack", "receipt": "rcpt"}


def timer_member(kind: str, dispatch_id: str, step: int, page: int | None = None) -> str:
    """The index member of a dispatch timer (``kind`` is ``ack`` or ``receipt``)."""
    base = f"{_PREFIX[kind]}|{dispatch_id}|{step}"
    return f"{base}|{page}" if page else base


def ack_timer_member(dispatch_id: str, step: int, page: int | None = None) -> str:
    return timer_member("ack", dispatch_id, step, page)


def receipt_timer_member(dispatch_id: str, step: int, page: int | None = None) -> str:
    return timer_member("receipt", dispatch_id, step, page)


def release_timer_member(practice_id: str, held_id: str) -> str:
    return f"rel|{practice_id}|{held_id}"


async def scan_due_timers(
    svc: Services, limit: int = 500, fire: Fire | None = None, at_once: int = 64
) -> int:
    """Claim due timers and fire their commands (``at_once`` at a time), or publish
    them without ``fire``; returns how many were due."""
    now = svc.clock.now()
    due = await svc.timers.claim_due(now, svc.timer_lease_s, limit)
    commands: list[tuple[str, Command]] = []
    for timer in due:
        kind, first, second, third = ([*timer.member.split("|"), "", "", ""])[:4]
        command: Command
        if kind in ("ack", "rcpt") and second.isdigit() and (not third or third.isdigit()):
            firing = FireAckTimer if kind == "ack" else FireReceiptTimer
            page = int(third) if third else None
            command = firing(
                dispatch_id=first, step=int(second), page=page, due_at=timer.due_at, fired_at=now
            )
            key = first
        elif kind == "rel" and second:
            command = ReleaseHeldMessage(
                held_id=second, practice_id=first, due_at=timer.due_at, fired_at=now
            )
            key = second
        else:
            await svc.timers.remove([timer.member])  # not ours: never fire garbage forever
            continue
        commands.append((key, command))
    if fire is None:
        for key, command in commands:
            await svc.publisher.publish("dispatch.commands", key, command)
    else:
        gate = asyncio.Semaphore(at_once)

        async def one(key: str, command: Command) -> None:
            async with gate:
                await fire(key, command)

        await asyncio.gather(*(one(key, command) for key, command in commands))
    if due:
        svc.metrics.pending_timers.set(await svc.timers.pending())
    return len(due)
