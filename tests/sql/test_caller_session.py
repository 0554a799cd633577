"""The memory on the caller's ``AsyncSession``: two requests, two sessions, one store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from memmark.core import DuplicateMessageError, Msg
from memmark.sql import AsyncSQLAlchemyMemory
from tests.backends import id_params

pytestmark = pytest.mark.parametrize("backend", id_params("sqlite", "postgres", "mariadb"))


def _msg(msg_id: str) -> Msg:
    message = Msg("tester", msg_id, "user")
    message.id = msg_id
    return message


@dataclass
class Request:
    """One request: its own session, and a memory made on it."""

    session: AsyncSession
    memory: AsyncSQLAlchemyMemory


@pytest.fixture
async def requests(engine: AsyncEngine, prefix: str) -> AsyncIterator[tuple[Request, Request]]:
    """Two requests on one session of the store, each with its own ``AsyncSession``."""

    def request(session: AsyncSession) -> Request:
        return Request(session, AsyncSQLAlchemyMemory(session, "s", "u", table_prefix=prefix))

    async with AsyncSession(engine) as first, AsyncSession(engine) as second:
        yield request(first), request(second)


async def test_a_read_leaves_no_transaction_and_sees_later_writes(
    requests: tuple[Request, Request],
) -> None:
    """After a read, the caller's session is out of any transaction, and sees new commits."""
    reader, writer = requests
    assert await reader.memory.size() == 0
    assert not reader.session.in_transaction()
    await writer.memory.add(_msg("a"))  # would wait out SQLite's lock behind an open read
    assert await reader.memory.size() == 1  # MariaDB's snapshot would still say 0
    assert [m.id for m in await reader.memory.get_memory()] == ["a"]
    assert not reader.session.in_transaction()


async def test_a_refused_add_after_a_read_leaves_the_session_usable(
    requests: tuple[Request, Request],
) -> None:
    """A refused add ends what it began, and the other request's write goes through."""
    mine, other = requests
    await mine.memory.add(_msg("a"))
    assert await mine.memory.size() == 1
    with pytest.raises(DuplicateMessageError):
        await mine.memory.add([_msg("b"), _msg("a")], skip_duplicated=False)
    assert not mine.session.in_transaction()
    await other.memory.add(_msg("c"))  # no lock of the refused add stands in the way
    await mine.memory.add(_msg("b"), skip_duplicated=False)  # the retry works
    assert [m.id for m in await other.memory.get_memory()] == ["a", "c", "b"]


async def test_a_cancelled_write_leaves_the_session_usable_and_the_call_retryable(
    requests: tuple[Request, Request],
) -> None:
    """Cancelled at any point, a write leaves the session usable; its retry completes it."""
    mine, other = requests
    await mine.memory.size()  # the tables exist
    for step in range(40):
        batch = [_msg(f"{step}-{i}") for i in range(20)]
        call = asyncio.ensure_future(mine.memory.add(batch, marks="m"))
        await asyncio.sleep(step * 0.0005)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        assert not mine.session.in_transaction(), step
        await mine.memory.add(batch, marks="m")  # the retry, whatever the first did
        await other.memory.add(_msg(f"{step}-other"))  # no lock left in the way
        got = await mine.memory.get_memory(mark="m")
        assert [m.id for m in got][-20:] == [m.id for m in batch], step
    assert await other.memory.size() == 40 * 21


async def test_two_concurrent_requests_each_see_every_write_of_the_other(
    requests: tuple[Request, Request],
) -> None:
    """Two requests, each with its session, read and write side by side; no lock is left."""
    rounds = 15

    async def request(name: str, mine: Request) -> None:
        for i in range(rounds):
            await mine.memory.add(_msg(f"{name}-{i}"), marks=name)
            assert await mine.memory.size() >= i + 1
            assert [m.id for m in await mine.memory.get_memory(mark=name)][-1] == f"{name}-{i}"
            assert not mine.session.in_transaction()

    await requests[0].memory.size()  # the tables exist
    both = asyncio.gather(*(request(name, r) for name, r in zip("ab", requests, strict=True)))
    await asyncio.wait_for(both, timeout=60)
    for mine in requests:  # the last read of each came before the other's last write
        assert await mine.memory.size() == 2 * rounds
        state = await mine.memory.export_state()
        assert sorted(d["id"] for d, _ in state["content"]) == sorted(
            f"{n}-{i}" for n in "ab" for i in range(rounds)
        )


# Every write of the contract, each meeting what the session starts with.
WRITES = {
    "add": lambda m: m.add(_msg("new")),
    "delete": lambda m: m.delete(["a"]),
    "delete_by_mark": lambda m: m.delete_by_mark("hint"),
    "update_messages_mark": lambda m: m.update_messages_mark("seen", msg_ids=["a"]),
    "update_compressed_summary": lambda m: m.update_compressed_summary("changed"),
    "clear": lambda m: m.clear(),
    "import_state": lambda m: m.import_state({"content": [[_msg("i").to_dict(), []]]}),
    "upsert": lambda m: m.upsert(Msg("tester", "replaced", "user"), marks="x"),
    "pop": lambda m: m.pop(),
    "set_session_state": lambda m: m.set_session_state({"turn": 2}),
    "batch": lambda m: m.batch().add(_msg("b")).delete(["a"]).commit(),
}


@pytest.mark.parametrize("write", WRITES)
async def test_a_write_inside_the_callers_transaction_is_the_callers_to_commit_or_undo(
    requests: tuple[Request, Request], write: str
) -> None:
    """In ``async with session.begin():`` no write commits: the caller's rollback undoes it."""
    mine, other = requests
    await mine.memory.add([_msg("a"), _msg("h")])
    await mine.memory.update_messages_mark("hint", msg_ids=["h"])
    await mine.memory.update_compressed_summary("summary")
    before = await other.memory.export_state()
    async with mine.session.begin():
        await WRITES[write](mine.memory)
        # Still the caller's transaction: the caller rolls it back.
        assert mine.session.in_transaction()
        await mine.session.rollback()
    assert await other.memory.export_state() == before
    assert await mine.memory.export_state() == before
    # Committed by the caller, the same write is there for everyone.
    async with mine.session.begin():
        await WRITES[write](mine.memory)
    assert await other.memory.export_state() != before
