"""``nightline dispatches repair-timers``: give every dispatch nobody owns the
acknowledgement deadline it must have pending.

After an upgrade from a version whose desk hand-off had no timer (or whose ``stop_on:
read`` ended an escalation on a read), after restoring Redis from an older backup, or
after a timer was deleted by hand, a dispatch could wait with nothing to wake it. This
scans the dispatches of the deployment, and for each one still paging or at the desk
whose deadline is missing from the timer index, schedules it (at its own due time, or
now for the old forms), so the desk is re-alerted or the next level paged. A dispatch
whose outbox an older version left unrun (the single ``outbox`` field) is put in the
effects index, so the effect scanner runs it. Listing is the default; ``--apply``
writes. Idempotent: an existing timer is never moved.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from engine.settings import load_settings

__all__ = ["dispatches"]


@click.group("dispatches")
def dispatches() -> None:
    """Dispatches in Redis (the engine's current state)."""


@dispatches.command("repair-timers")
@click.option("--apply", "apply_changes", is_flag=True, help="Schedule what is missing.")
def repair_timers(apply_changes: bool) -> None:
    """List (or with --apply, schedule) the missing deadlines of unowned dispatches."""
    from redis import Redis

    from engine.adapters.redis_keys import Keys
    from engine.adapters.redis_store import to_ms
    from engine.domain.dispatch import DispatchState, pending_deadline
    from engine.handlers.timers import ack_timer_member

    s = load_settings()
    keys = Keys(s.topic_prefix)
    client = Redis.from_url(s.redis_dsn)
    now = datetime.now(UTC)
    missing = 0
    for key in client.scan_iter(match=keys.dispatch("*"), count=500):
        raw, legacy_outbox = client.hmget(key, ["state", "outbox"])
        if raw is None:
            continue
        state = DispatchState.from_dict(json.loads(raw))
        if (
            json.loads(legacy_outbox or "[]")
            and client.zscore(keys.effects, state.dispatch_id) is None
        ):
            missing += 1
            click.echo(f"{state.dispatch_id}: effects left by an older version, to be run")
            if apply_changes:
                client.zadd(keys.effects, {state.dispatch_id: to_ms(now)}, nx=True)
        wanted = pending_deadline(state, now)
        if wanted is None:
            continue
        step, page, due = wanted
        member = ack_timer_member(state.dispatch_id, step, page)
        if client.zscore(keys.timers, member) is not None:
            continue
        missing += 1
        click.echo(f"{state.dispatch_id} ({state.status.value}): {member} due {due.isoformat()}")
        if apply_changes:
            client.zadd(keys.timers, {member: to_ms(due)}, nx=True)
            client.hsetnx(keys.timer_due, member, to_ms(due))
    done = "scheduled" if apply_changes else "missing (run with --apply to schedule them)"
    click.echo(f"{missing} deadline(s) or unrun effects {done}")
