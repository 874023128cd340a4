"""Commands issued at the same moment go to Redis together, as one pipeline.

The worker runs hundreds of records at once, and each one awaits its own Redis
commands. Sent one by one, each command costs a round trip, a pooled connection and
redis-py's per-call machinery (about 160 µs of CPU); pipelined, about a fifth of that.
:class:`CommandBatcher` queues every command issued during one turn of the event loop
and sends the queue, once that turn ends, as a single non-transactional pipeline on
one connection; each caller gets its own reply or its own error.

Nothing about a command's meaning changes: a pipeline is not a transaction, replies are
matched in order, a command's error (a ``NOSCRIPT``, a wrong type) goes only to its
caller, and a connection failure fails every command of that pipeline, as it would
have failed each of them alone (the caller's repeat policy then decides).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["CommandBatcher"]

Command = tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]
SendOne = Callable[..., Awaitable[Any]]
SendMany = Callable[[list[tuple[tuple[Any, ...], dict[str, Any]]]], Awaitable[list[Any]]]


class CommandBatcher:
    """Coalesce the commands of one event-loop turn into one pipeline (at most
    ``max_batch`` commands each; a lone command is sent as it is)."""

    def __init__(self, send_one: SendOne, send_many: SendMany, max_batch: int = 512) -> None:
        self._send_one = send_one
        self._send_many = send_many
        self._max_batch = max_batch
        self._queue: list[Command] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.pipelines_sent = 0
        self.commands_sent = 0

    async def execute(self, *args: Any, **options: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._queue:
            loop.call_soon(self._flush)
        self._queue.append((args, options, future))
        return await future

    def _flush(self) -> None:
        queue, self._queue = self._queue, []
        for start in range(0, len(queue), self._max_batch):
            batch = queue[start : start + self._max_batch]
            task = asyncio.ensure_future(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[Command]) -> None:
        self.pipelines_sent += 1
        self.commands_sent += len(batch)
        try:
            if len(batch) == 1:
                args, options, _ = batch[0]
                replies = [await self._send_one(*args, **options)]
            else:
                replies = await self._send_many([(args, options) for args, options, _ in batch])
        except asyncio.CancelledError:  # the worker stops: so do the callers
            for _, _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # the connection failed: every command of it did
            for _, _, future in batch:
                _settle(future, exc)
            return
        for (_, _, future), reply in zip(batch, replies, strict=True):
            _settle(future, reply)


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():  # the caller gave up (a timeout): the reply is nobody's
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
