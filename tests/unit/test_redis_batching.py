"""Commands issued together go together (engine/adapters/redis_batching.py): one
pipeline per event-loop turn, each caller with its own reply or its own error. The
"server" is two recording functions; tests/integration/test_redis_batching.py runs the
worker's client on a real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.adapters.redis_batching import CommandBatcher

Sent = list[tuple[tuple[Any, ...], dict[str, Any]]]


class Server:
    """Answers ``GET k`` with ``k`` upper-cased; ``FAIL`` with a reply error."""

    def __init__(self) -> None:
        self.alone: list[tuple[Any, ...]] = []
        self.pipelines: list[Sent] = []
        self.down: Exception | None = None

    @staticmethod
    def answer(args: tuple[Any, ...]) -> Any:
        if args[0] == "FAIL":
            return ValueError(f"no {args[1]}")
        return str(args[1]).upper()

    async def send_one(self, *args: Any, **options: Any) -> Any:
        self.alone.append(args)
        await asyncio.sleep(0)
        if self.down is not None:
            raise self.down
        reply = self.answer(args)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def send_many(self, commands: Sent) -> list[Any]:
        self.pipelines.append(commands)
        await asyncio.sleep(0)
        if self.down is not None:
            raise self.down
        return [self.answer(args) for args, _ in commands]


@pytest.fixture()
def server() -> Server:
    return Server()


async def test_commands_of_one_turn_go_as_one_pipeline(server: Server) -> None:
    batcher = CommandBatcher(server.send_one, server.send_many)
    replies = await asyncio.gather(*(batcher.execute("GET", f"k{i}") for i in range(50)))
    assert replies == [f"K{i}" for i in range(50)]
    assert len(server.pipelines) == 1 and server.alone == []
    assert [args for args, _ in server.pipelines[0]] == [("GET", f"k{i}") for i in range(50)]
    assert (batcher.pipelines_sent, batcher.commands_sent) == (1, 50)


async def test_a_lone_command_is_sent_as_it_is(server: Server) -> None:
    batcher = CommandBatcher(server.send_one, server.send_many)
    assert await batcher.execute("GET", "a") == "A"
    assert await batcher.execute("GET", "b") == "B"  # awaited in turn: two turns
    assert server.alone == [("GET", "a"), ("GET", "b")] and server.pipelines == []


async def test_options_travel_with_their_command(server: Server) -> None:
    batcher = CommandBatcher(server.send_one, server.send_many)
    await asyncio.gather(batcher.execute("GET", "a", keys=["a"]), batcher.execute("GET", "b"))
    assert server.pipelines[0] == [(("GET", "a"), {"keys": ["a"]}), (("GET", "b"), {})]


async def test_a_reply_error_goes_only_to_its_caller(server: Server) -> None:
    batcher = CommandBatcher(server.send_one, server.send_many)
    results = await asyncio.gather(
        batcher.execute("GET", "a"),
        batcher.execute("FAIL", "b"),
        batcher.execute("GET", "c"),
        return_exceptions=True,
    )
    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], ValueError) and str(results[1]) == "no b"


async def test_a_failed_connection_fails_every_command_of_its_pipeline(server: Server) -> None:
    batcher = CommandBatcher(server.send_one, server.send_many)
    server.down = ConnectionError("reset")
    results = await asyncio.gather(
        *(batcher.execute("GET", f"k{i}") for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    server.down = None
    assert await batcher.execute("GET", "after") == "AFTER"  # and the next one works


async def test_a_lone_command_fails_alone(server: Server) -> None:
    batcher = CommandBatcher(server.send_one, server.send_many)
    server.down = ConnectionError("reset")
    with pytest.raises(ConnectionError):
        await batcher.execute("GET", "a")


async def test_large_turns_are_split(server: Server) -> None:
    batcher = CommandBatcher(server.send_one, server.send_many, max_batch=8)
    replies = await asyncio.gather(*(batcher.execute("GET", f"k{i}") for i in range(20)))
    assert replies == [f"K{i}" for i in range(20)]
    assert [len(p) for p in server.pipelines] == [8, 8, 4] and server.alone == []
    assert batcher.commands_sent == 20 and batcher.pipelines_sent == 3


async def test_a_caller_that_gives_up_leaves_the_others_their_replies(server: Server) -> None:
    batcher = CommandBatcher(server.send_one, server.send_many)
    impatient = asyncio.ensure_future(batcher.execute("GET", "a"))
    patient = asyncio.ensure_future(batcher.execute("GET", "b"))
    await asyncio.sleep(0)  # both queued, the pipeline is on its way
    impatient.cancel()
    assert await patient == "B"
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_commands_of_later_turns_form_new_pipelines(server: Server) -> None:
    batcher = CommandBatcher(server.send_one, server.send_many)

    async def two_in_turn(i: int) -> list[str]:
        return [await batcher.execute("GET", f"a{i}"), await batcher.execute("GET", f"b{i}")]

    results = await asyncio.gather(*(two_in_turn(i) for i in range(4)))
    assert results == [[f"A{i}", f"B{i}"] for i in range(4)]
    assert [len(p) for p in server.pipelines] == [4, 4]


class Unpackable(Exception):
    """Stands for redis-py's DataError: raised while packing, before anything is sent."""


class PackingServer(Server):
    async def send_many(self, commands: Sent) -> list[Any]:
        if any(None in args for args, _ in commands):
            raise Unpackable("cannot encode None")
        return await super().send_many(commands)

    async def send_one(self, *args: Any, **options: Any) -> Any:
        if None in args:
            raise Unpackable("cannot encode None")
        return await super().send_one(*args, **options)


async def test_a_command_that_cannot_be_packed_fails_alone() -> None:
    server = PackingServer()
    batcher = CommandBatcher(server.send_one, server.send_many, unsent=(Unpackable,))
    results = await asyncio.gather(
        batcher.execute("GET", "a"),
        batcher.execute("GET", None),
        batcher.execute("GET", "c"),
        return_exceptions=True,
    )
    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], Unpackable)
    assert server.alone == [("GET", "a"), ("GET", "c")]  # each sent alone, once


async def test_a_command_whose_caller_gave_up_is_never_sent(server: Server) -> None:
    batcher = CommandBatcher(server.send_one, server.send_many)
    gone = asyncio.ensure_future(batcher.execute("RPUSH", "gone"))
    kept = asyncio.ensure_future(batcher.execute("RPUSH", "kept"))
    await asyncio.sleep(0)  # both queued; the batch leaves on the next turn
    gone.cancel()
    assert await kept == "KEPT"
    sent = [args for p in server.pipelines for args, _ in p] + server.alone
    assert sent == [("RPUSH", "kept")]


async def test_no_caller_waits_forever_when_replies_go_missing() -> None:
    class Short(Server):
        async def send_many(self, commands: Sent) -> list[Any]:
            return (await super().send_many(commands))[:-1]  # one reply short

    server = Short()
    batcher = CommandBatcher(server.send_one, server.send_many)
    results = await asyncio.wait_for(
        asyncio.gather(
            *(batcher.execute("GET", f"k{i}") for i in range(3)), return_exceptions=True
        ),
        5,
    )
    assert results[:2] == ["K0", "K1"] and isinstance(results[2], RuntimeError)
