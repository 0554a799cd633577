"""The memory on the caller's ``AsyncSession``: two requests, two sessions, one store."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sql_support import backend_params
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from memmark.core import DuplicateMessageError, Msg
from memmark.sql import AsyncSQLAlchemyMemory

pytestmark = pytest.mark.parametrize("backend", backend_params(("sqlite", "postgres", "mariadb")))


def _msg(msg_id: str) -> Msg:
    message = Msg("tester", msg_id, "user")
    message.id = msg_id
    return message


async def test_a_read_leaves_no_transaction_and_sees_later_writes(
    engine: AsyncEngine, prefix: str
) -> None:
    """After a read, the caller's session is out of any transaction, and sees new commits."""
    async with AsyncSession(engine) as first, AsyncSession(engine) as second:
        reader = AsyncSQLAlchemyMemory(first, "s", "u", table_prefix=prefix)
        writer = AsyncSQLAlchemyMemory(second, "s", "u", table_prefix=prefix)
        assert await reader.size() == 0
        assert not first.in_transaction()
        await writer.add(_msg("a"))  # would wait out SQLite's lock behind an open read
        assert await reader.size() == 1  # MariaDB's snapshot would still say 0
        assert [m.id for m in await reader.get_memory()] == ["a"]
        assert not first.in_transaction()


async def test_a_refused_add_after_a_read_leaves_the_session_usable(
    engine: AsyncEngine, prefix: str
) -> None:
    """A refused add ends what it began, and the other request's write goes through."""
    async with AsyncSession(engine) as first, AsyncSession(engine) as second:
        mine = AsyncSQLAlchemyMemory(first, "s", "u", table_prefix=prefix)
        other = AsyncSQLAlchemyMemory(second, "s", "u", table_prefix=prefix)
        await mine.add(_msg("a"))
        assert await mine.size() == 1
        with pytest.raises(DuplicateMessageError):
            await mine.add([_msg("b"), _msg("a")], skip_duplicated=False)
        assert not first.in_transaction()
        await other.add(_msg("c"))  # no lock of the refused add stands in the way
        await mine.add(_msg("b"), skip_duplicated=False)  # the retry works
        assert [m.id for m in await other.get_memory()] == ["a", "c", "b"]


async def test_a_cancelled_write_leaves_the_session_usable_and_the_call_retryable(
    engine: AsyncEngine, prefix: str
) -> None:
    """Cancelled at any point, a write leaves the session usable; its retry completes it."""
    async with AsyncSession(engine) as first, AsyncSession(engine) as second:
        mine = AsyncSQLAlchemyMemory(first, "s", "u", table_prefix=prefix)
        other = AsyncSQLAlchemyMemory(second, "s", "u", table_prefix=prefix)
        await mine.size()  # the tables exist
        for step in range(40):
            batch = [_msg(f"{step}-{i}") for i in range(20)]
            call = asyncio.ensure_future(mine.add(batch, marks="m"))
            await asyncio.sleep(step * 0.0005)
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call
            assert not first.in_transaction(), step
            await mine.add(batch, marks="m")  # the retry, whatever the first did
            await other.add(_msg(f"{step}-other"))  # no lock left in the way
            got = await mine.get_memory(mark="m")
            assert [m.id for m in got][-20:] == [m.id for m in batch], step
        assert await other.size() == 40 * 21


async def test_two_concurrent_requests_each_see_every_write_of_the_other(
    engine: AsyncEngine, prefix: str
) -> None:
    """Two requests, each with its session, read and write side by side; no lock is left."""
    rounds = 15

    async def request(name: str, session: AsyncSession) -> AsyncSQLAlchemyMemory:
        memory = AsyncSQLAlchemyMemory(session, "s", "u", table_prefix=prefix)
        for i in range(rounds):
            await memory.add(_msg(f"{name}-{i}"), marks=name)
            assert await memory.size() >= i + 1
            assert [m.id for m in await memory.get_memory(mark=name)][-1] == f"{name}-{i}"
            assert not session.in_transaction()
        return memory

    async with AsyncSession(engine) as first, AsyncSession(engine) as second:
        await AsyncSQLAlchemyMemory(first, "s", "u", table_prefix=prefix).size()  # tables
        both = asyncio.gather(request("a", first), request("b", second))
        memories = await asyncio.wait_for(both, timeout=60)
        for memory in memories:  # the last read of each came before the other's last write
            assert await memory.size() == 2 * rounds
            state = await memory.export_state()
            assert sorted(d["id"] for d, _ in state["content"]) == sorted(
                f"{n}-{i}" for n in "ab" for i in range(rounds)
            )
