"""PostgreSQL: every call reads a number of rows linear in the session, whatever the statistics.

The planner estimates a session's rows from the last ANALYZE. Taken before
the session existed (new tables, a new tenant), those statistics count it as
one row, and a join of the mark and message tables could then be planned as
a loop that scans the whole session once per row: quadratic work, seconds
for a few thousand messages. Here the statistics are made stale on purpose
(analysed with another, small session; autovacuum off for these tables), a
session is grown past them, and the rows each call reads are counted from
PostgreSQL's own statistics views (index entries returned plus rows read by
sequential scans), not timed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory, id_digest, make_metadata
from memmark.sql._postgres import PostgresStatements
from tests.backends import drop_tables, server_url, table_prefix

pytestmark = pytest.mark.postgres

N = 1_000  # messages in the session; half carry "even"
# A linear plan reads a few rows per message; the quadratic ones read about
# N * N / 2 (500,000 here).
BUDGET = 20 * N


def _batch(tag: str) -> list[Msg]:
    out = []
    for i in range(100):
        m = Msg("n", "x" * 200, "user")
        m.id = f"{tag}-{i}"
        out.append(m)
    return out


class Counter:
    """Counts the rows PostgreSQL read from one prefix's tables, call by call."""

    def __init__(self, engine: AsyncEngine, prefix: str) -> None:
        self.engine = engine
        self.names = [t.name for t in make_metadata(prefix).sorted_tables]

    async def total(self) -> int:
        async with self.engine.connect() as conn:
            # Statistics are cached per transaction: take a fresh look.
            await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            row = (
                await conn.execute(
                    text(
                        "SELECT (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes"
                        "        WHERE relname = ANY(:names))"
                        "     + (SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_user_tables"
                        "        WHERE relname = ANY(:names))"
                    ),
                    {"names": self.names},
                )
            ).one()
        return int(row[0])


STALE = {
    "engine-small": ("engine", 50),
    "session-small": ("session", 50),
    "engine-empty": ("engine", 0),
}


@pytest.fixture(params=list(STALE.values()), ids=list(STALE))
async def stale(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[AsyncSQLAlchemyMemory, Callable[[], Awaitable[None]], Counter]]:
    url = server_url("postgres")
    # One connection, so the backend that did the work is the one told to
    # publish its statistics.
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    observer = create_async_engine(url, pool_size=1, max_overflow=0)
    prefix = table_prefix()
    mode, analysed_with = request.param
    session = AsyncSession(engine) if mode == "session" else None
    try:
        # Statistics of a small other session, or of empty tables (what a
        # VACUUM of freshly made tables leaves: no rows at all).
        small = AsyncSQLAlchemyMemory(engine, "small", "u", table_prefix=prefix)
        await small.size()
        if analysed_with:
            await small.add(_batch("small")[:analysed_with], "even")
        async with engine.begin() as conn:
            for name in make_metadata(prefix).tables:
                await conn.execute(text(f"ALTER TABLE {name} SET (autovacuum_enabled = false)"))
                await conn.execute(text(f"ANALYZE {name}"))
        if not analysed_with:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                for name in make_metadata(prefix).tables:
                    await conn.execute(text(f"VACUUM {name}"))
        memory = AsyncSQLAlchemyMemory(session or engine, "big", "u", table_prefix=prefix)
        for b in range(N // 100):
            await memory.add(_batch(f"b{b}"), ["even", "all"] if b % 2 == 0 else ["all"])

        async def publish() -> None:
            # Sent on the memory's own connection; the backend publishes its
            # pending statistics before it answers.
            flush = text("SELECT pg_stat_force_next_flush()")
            if session is not None:
                await session.execute(flush)
                await session.commit()
            else:
                async with engine.connect() as conn:
                    await conn.execute(flush)
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))  # the flush ran when that one went idle

        yield memory, publish, Counter(observer, prefix)
    finally:
        if session is not None:
            await session.close()
        await drop_tables(engine, prefix)
        await engine.dispose()
        await observer.dispose()


async def test_every_call_reads_rows_linear_in_the_session(
    stale: tuple[AsyncSQLAlchemyMemory, Callable[[], Awaitable[None]], Counter],
) -> None:
    memory, publish, counter = stale
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("get_memory()", lambda: memory.get_memory()),
        ("get_memory(mark)", lambda: memory.get_memory(mark="even")),
        ("get_memory(mark, limit=20)", lambda: memory.get_memory(mark="even", limit=20)),
        ("get_memory(exclude_mark)", lambda: memory.get_memory(exclude_mark="even")),
        ("get_memory(mark, exclude_mark)", lambda: memory.get_memory("all", "even")),
        ("export_state()", lambda: memory.export_state()),
        ("update_messages_mark(odd, even)", lambda: memory.update_messages_mark("odd", "even")),
        ("update_messages_mark(new)", lambda: memory.update_messages_mark("new")),
        ("delete_by_mark(odd)", lambda: memory.delete_by_mark("odd")),
    ]
    read: dict[str, int] = {}
    await publish()
    before = await counter.total()
    for name, call in calls:
        await call()
        await publish()
        after = await counter.total()
        read[name] = after - before
        before = after
    # The counters moved at all, or this test would prove nothing.
    assert read["get_memory()"] >= N, read
    over = {name: rows for name, rows in read.items() if rows > BUDGET}
    assert not over, f"rows read per call, for a {N:,}-message session: {read}"
    assert await memory.size() == N // 2


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


@pytest.mark.parametrize(
    "stale",
    [STALE["engine-small"], STALE["engine-empty"]],
    ids=["engine-small", "engine-empty"],
    indirect=True,
)
async def test_delete_by_mark_walks_the_primary_key_with_its_array(
    stale: tuple[AsyncSQLAlchemyMemory, Callable[[], Awaitable[None]], Counter],
) -> None:
    """delete_by_mark reads the messages through an array built by a subquery.

    The rows it reads stay linear either way, but testing each of the
    session's rows against the whole array as a filter (such an array is not
    hashed, as a constant list is) costs rows x carriers comparisons: half
    an hour for half of a 100,000-message session. The array must be the
    primary key's index condition, never a filter.
    """
    memory, _, counter = stale  # with an engine: the delete runs on asyncpg
    statements = memory._link.statements
    assert isinstance(statements, PostgresStatements)
    script = statements.delete_script(memory._sid, [id_digest("even")], by_mark=True)
    async with counter.engine.connect() as conn:
        shape = (
            await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {script.split(';')[0]}")
        ).scalar_one()
    nodes = _nodes((json.loads(shape) if isinstance(shape, str) else shape)[0]["Plan"])
    messages = [
        n
        for n in nodes
        if n.get("Relation Name", "").endswith("_message")
        or n.get("Index Name", "").endswith(("_message_pkey", "_message_sid_seq"))
    ]
    assert [n for n in messages if "ANY" in n.get("Filter", "")] == [], messages
    assert any("ANY" in n.get("Index Cond", "") for n in messages), messages
