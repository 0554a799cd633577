"""MariaDB: a re-mark of a whole session locks only the rows of the mark it moves.

InnoDB locks every row a ``DELETE`` reads. Deleting a mark that half the
session carries, the optimizer would read all the session's marks on the
primary key, so a re-mark waited for any writer holding a freshly added mark
row of another mark, while that writer waited for the re-mark: the
concurrent-writers run saw one add deadlock eight times in a row. Here a
transaction holds such a row, uncommitted, and the re-mark must finish
without waiting for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory, id_digest
from tests.backends import drop_tables, server_url, table_prefix

pytestmark = pytest.mark.mariadb

N = 400  # messages; every other one carries "movable", the rest "other"


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(server_url("mariadb"))
    yield eng
    await eng.dispose()


async def test_remark_does_not_wait_for_rows_of_other_marks(engine: AsyncEngine) -> None:
    prefix = table_prefix()
    memory = AsyncSQLAlchemyMemory(engine, "s", "u", table_prefix=prefix)
    try:
        for start in range(0, N, 100):
            batch = [Msg("n", f"message {i}", "user") for i in range(start, start + 100)]
            await memory.add(batch[0::2], marks="movable")
            await memory.add(batch[1::2], marks="other")
        async with engine.connect() as conn:
            await conn.execute(text(f"ANALYZE TABLE {prefix}mark"))
            sid = (await conn.execute(text(f"SELECT sid FROM {prefix}mark LIMIT 1"))).scalar_one()

        async with engine.connect() as writer:
            # A writer's add in flight: a new mark row, locked until it commits.
            await writer.execute(
                text(
                    f"INSERT INTO {prefix}mark (sid, mid, mk, seq, mark) "
                    "VALUES (:sid, :mid, :mk, :seq, 'w3')"
                ),
                {"sid": sid, "mid": id_digest("in-flight"), "mk": id_digest("w3"), "seq": 10**9},
            )
            try:
                # Waiting for the writer's lock would take until MariaDB's
                # lock wait timeout (50 s by default), then retry.
                moved = await asyncio.wait_for(
                    memory.update_messages_mark("moved", old_mark="movable"), timeout=20
                )
            finally:
                await writer.rollback()
        assert moved == N // 2
        assert len(await memory.get_memory(mark="moved")) == N // 2
        assert await memory.get_memory(mark="movable") == []
        assert len(await memory.get_memory(mark="other")) == N // 2
    finally:
        await drop_tables(engine, prefix)
