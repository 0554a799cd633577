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

import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory, id_digest, make_metadata
from memmark.sql._batch_statements import PageKey
from memmark.sql._postgres import PostgresStatements
from memmark.sql._statements import ReadKey
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


CallRows = Callable[[], Awaitable[Any]]
"""A call whose rows read are counted."""


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

    async def per_call(
        self, publish: Callable[[], Awaitable[None]], calls: Iterable[tuple[str, CallRows]]
    ) -> dict[str, int]:
        """Run each call in turn; return the rows each one read, by name."""
        read: dict[str, int] = {}
        await publish()
        before = await self.total()
        for name, call in calls:
            await call()
            await publish()
            after = await self.total()
            read[name] = after - before
            before = after
        return read


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
        ("get_page()", lambda: memory.get_page(limit=50)),
        ("get_page(before, exclude)", lambda: memory.get_page(before="b5-0", exclude_mark="even")),
        ("get_page(after, mark)", lambda: memory.get_page(after="b2-0", mark="even")),
        ("get_messages(every id)", lambda: memory.get_messages(every_id)),
        ("get_session_state()", lambda: memory.get_session_state()),
        ("update_messages_mark(odd, even)", lambda: memory.update_messages_mark("odd", "even")),
        ("update_messages_mark(new)", lambda: memory.update_messages_mark("new")),
        ("delete_by_mark(odd)", lambda: memory.delete_by_mark("odd")),
        ("upsert(100 stored)", lambda: memory.upsert(_batch("b1"), "again")),
        ("pop()", lambda: memory.pop()),
        ("set_session_state()", lambda: memory.set_session_state({"turn": 1})),
        ("batch", lambda: turn.commit()),
    ]
    every_id = [f"b{b}-{i}" for b in range(N // 100) for i in range(100)]
    turn = (
        memory.batch()
        .add(_batch("new")[:10], "even")
        .delete([f"b3-{i}" for i in range(10)])
        .update_messages_mark("seen", msg_ids=[f"b5-{i}" for i in range(10)])
        .upsert(_batch("b7")[:10])
        .delete_by_mark("again")
        .set_session_state({"turn": 2})
    )
    read = await counter.per_call(publish, calls)
    # The counters moved at all, or this test would prove nothing.
    assert read["get_memory()"] >= N, read
    over = {name: rows for name, rows in read.items() if rows > BUDGET}
    assert not over, f"rows read per call, for a {N:,}-message session: {read}"
    # Half deleted by mark, one popped, 100 deleted by the batch's mark (the
    # upserted b1 batch), 10 added and 10 deleted.
    assert await memory.size() == N // 2 - 1 - 100


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


LIMIT = 20


@pytest.mark.parametrize(
    ("mark", "exclude"), [(False, False), (True, False), (False, True), (True, True)]
)
async def test_a_limit_read_makes_text_only_of_the_rows_it_may_return(
    stale: tuple[AsyncSQLAlchemyMemory, Callable[[], Awaitable[None]], Counter],
    mark: bool,
    exclude: bool,
) -> None:
    """On stale statistics a limit read may fetch and sort the whole session,
    but it must turn only the rows it may return into text: text made in the
    scan is made for every message (the newest 50 of 2,000 agent messages
    took 7.1 ms so, 2.0 ms without). With an excluded mark, the rows it may
    return are the newest ``limit`` plus as many as carry that mark (see
    ``exclude_rows``), 520 of 1,000 here. Read from the plan PostgreSQL ran.
    """
    memory, _, counter = stale
    statements = memory._link.statements
    assert isinstance(statements, PostgresStatements)
    sql = statements.read_sql(ReadKey(mark, exclude, limit=True, summary=False))
    args: list[Any] = [memory._sid]
    args += [id_digest("all")] if mark else []
    args += [id_digest("even")] if exclude else []
    made = await _text_made(counter.engine, sql, (*args, LIMIT))
    carriers = N // 2 if exclude else 0  # every other batch of 100 carries "even"
    assert max(made.values()) <= LIMIT + carriers, made


@pytest.mark.parametrize(
    ("mark", "exclude"), [(False, False), (True, False), (False, True), (True, True)]
)
async def test_a_page_makes_text_only_of_its_rows(
    stale: tuple[AsyncSQLAlchemyMemory, Callable[[], Awaitable[None]], Counter],
    mark: bool,
    exclude: bool,
) -> None:
    """As a limit read: ``get_page`` turns only the page's rows into text."""
    memory, _, counter = stale
    statements = memory._link.statements
    assert statements is not None
    compiled = statements.v2.page(PageKey(mark, exclude, None)).compile(
        dialect=counter.engine.dialect
    )
    values = {
        "sid": memory._sid,
        "lim": LIMIT + 1,
        "mk": id_digest("all"),
        "xmk": id_digest("even"),
    }
    assert compiled.positiontup is not None
    args = tuple(values[name] for name in compiled.positiontup)
    made = await _text_made(counter.engine, compiled.string, args)
    assert max(made.values()) <= LIMIT + 1, made


async def _text_made(engine: AsyncEngine, sql: str, args: tuple[Any, ...]) -> dict[str, int]:
    """Run ``sql`` under EXPLAIN ANALYZE; return the rows of each plan node that made text."""
    async with engine.connect() as conn:
        shape = (
            await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) {sql}", args)
        ).scalar_one()
    nodes = _nodes((json.loads(shape) if isinstance(shape, str) else shape)[0]["Plan"])
    made = {
        n["Node Type"]: n["Actual Rows"] * n["Actual Loops"]
        for n in nodes
        if any("msg)::text" in column for column in n.get("Output", []))
    }
    assert made, nodes  # the plan names where the text is made
    return made


# -- plans a pooled connection made while the tables were small ---------------------------

READS: list[tuple[str, Callable[[AsyncSQLAlchemyMemory], Awaitable[Any]]]] = [
    ("get_memory()", lambda m: m.get_memory()),
    ("get_memory(summary)", lambda m: m.get_memory(prepend_summary=True)),
    ("get_memory(mark)", lambda m: m.get_memory(mark="even")),
    ("get_memory(mark, limit=20)", lambda m: m.get_memory(mark="even", limit=20)),
    ("get_memory(exclude_mark)", lambda m: m.get_memory(exclude_mark="even")),
    ("get_memory(exclude_mark, limit=20)", lambda m: m.get_memory(exclude_mark="even", limit=20)),
    ("get_memory(mark, exclude_mark)", lambda m: m.get_memory("all", "even")),
    ("get_memory(limit=20)", lambda m: m.get_memory(limit=20)),
    ("size()", lambda m: m.size()),
    ("version()", lambda m: m.version()),
]


@pytest.fixture(params=["caller-engine", "memmark-engine"])
async def pooled_engine(request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    """One pooled connection, from a caller's plain engine or one memmark made."""
    url = server_url("postgres")
    if request.param == "caller-engine":
        engine = create_async_engine(url, pool_size=1, max_overflow=0)
    else:
        from memmark.sql._open import shared_engine

        engine = shared_engine(url, pool_size=1, max_overflow=0, pool_timeout=31)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_reads_stay_linear_on_plans_cached_while_the_tables_were_small(
    pooled_engine: AsyncEngine,
) -> None:
    """Every read, run many times on one pooled connection while the tables were
    empty, reads rows linear in the session once it has grown among many times
    its size in dead rows, with statistics from before it existed.

    asyncpg prepares each statement once per connection, and PostgreSQL may
    keep a generic plan after five runs: one made on empty tables scans them,
    also once per row in a subquery. The memory's statements must never run
    one (``pg_prepared_statements`` counts them), and the rows read must stay
    within the budget.
    """
    engine = pooled_engine
    prefix = table_prefix()
    observer = create_async_engine(server_url("postgres"), pool_size=1, max_overflow=0)
    counter = Counter(observer, prefix)
    memory = AsyncSQLAlchemyMemory(engine, "big", "u", table_prefix=prefix, message_cache=False)
    try:
        await memory.size()  # the tables, empty; statistics of empty tables
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for name in make_metadata(prefix).tables:
                await conn.execute(text(f"ALTER TABLE {name} SET (autovacuum_enabled = false)"))
                await conn.execute(text(f"VACUUM ANALYZE {name}"))
        first = _batch("first")[:5]
        await memory.add(first, ["even", "all"])
        for _ in range(10):  # past the five runs after which a generic plan may stay
            for _, read in READS:
                await read(memory)
        await memory.delete([m.id for m in first])
        # Dead rows: ten times the session, added and deleted.
        for r in range(10 * N // 100):
            await memory.add(_batch(f"dead{r}"), ["dead", "all"])
            await memory.delete_by_mark("dead")
        for b in range(N // 100):
            await memory.add(_batch(f"b{b}"), ["even", "all"] if b % 2 == 0 else ["all"])

        async def publish() -> None:
            async with engine.connect() as conn:  # the memory's own connection
                await conn.execute(text("SELECT pg_stat_force_next_flush()"))
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        read = await counter.per_call(
            publish, [(name, functools.partial(call, memory)) for name, call in READS]
        )
        assert read["get_memory()"] >= N, read
        over = {name: rows for name, rows in read.items() if rows > BUDGET}
        assert not over, f"rows read per call, for a {N:,}-message session: {read}"
        assert len(await memory.get_memory(exclude_mark="even", limit=20)) == 20
        async with engine.connect() as conn:
            generic = (
                await conn.execute(
                    text(
                        "SELECT statement, generic_plans FROM pg_prepared_statements"
                        " WHERE generic_plans > 0 AND statement LIKE :p"
                        " AND ltrim(statement) ILIKE 'select%'"
                    ),
                    {"p": f"%{prefix}%"},
                )
            ).all()
        assert generic == [], generic
    finally:
        await memory.close()
        await drop_tables(engine, prefix)
        await observer.dispose()


async def test_engines_memmark_makes_plan_every_run_without_jit() -> None:
    """Connections of an engine memmark makes carry the planner settings; a caller's win."""
    from memmark.sql._open import shared_engine

    url = server_url("postgres")
    ours = shared_engine(url, pool_size=1, max_overflow=0, pool_timeout=32)
    theirs = shared_engine(
        url,
        pool_size=1,
        max_overflow=0,
        pool_timeout=33,
        connect_args={"server_settings": {"jit": "on"}},
    )
    try:
        for engine, jit in ((ours, "off"), (theirs, "on")):
            async with engine.connect() as conn:
                mode = (await conn.execute(text("SHOW plan_cache_mode"))).scalar_one()
                assert (mode, (await conn.execute(text("SHOW jit"))).scalar_one()) == (
                    "force_custom_plan",
                    jit,
                )
    finally:
        await ours.dispose()
        await theirs.dispose()
