"""Fire a due timer's command in the worker that claimed it.

The handlers are idempotent (a stale or repeated firing is dropped by its page), so a
firing needs no queue: it runs at once, concurrently with the others of its scan, and
is bounded by half the claim's lease, so the claim outlives it. A transient failure
(Redis or Kafka away, the bound hit) leaves the timer claimed: it fires again when the
lease ends. Any other failure hands the command to the dispatch-commands topic, whose
agent dead-letters it and alerts the dispatch's desk, as for every input nobody could
act on.
"""

from __future__ import annotations

import asyncio
import logging

from engine.failures import describe_failure
from engine.handlers.commands import handle_command
from engine.handlers.services import Services
from engine.handlers.timers import Command
from engine.transient import is_transient

__all__ = ["fire_in_process"]

log = logging.getLogger(__name__)


async def fire_in_process(svc: Services, key: str, command: Command) -> None:
    try:
        async with asyncio.timeout(svc.timer_lease_s / 2):
            await handle_command(svc, command)
    except Exception as exc:
        if isinstance(exc, TimeoutError) or is_transient(exc):
            svc.metrics.timer_firings.labels("retry_after_lease").inc()
            log.warning("timer of %s: fires again after its lease: %s", key,
                        describe_failure(exc))  # fmt: skip
            return
        svc.metrics.timer_firings.labels("handed_to_agent").inc()
        log.error("timer of %s: failed in process: %s", key, describe_failure(exc))
        await svc.publisher.publish("dispatch.commands", key, command)
        return
    svc.metrics.timer_firings.labels("fired").inc()
