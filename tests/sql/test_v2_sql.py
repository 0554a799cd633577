"""Contract v2 on SQL: what only a SQL database can show.

A batch is one transaction (one COMMIT; an error at its last statement
leaves nothing), joins a transaction the caller opened on its session (and
goes with its rollback), and two batches with the same ``expect_version``
apply once; a page near the end of a long session reads a page's rows, not
the session's, whatever PostgreSQL's statistics say.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from memmark.core import DuplicateMessageError, Msg, VersionConflictError
from memmark.core.cache import MessageCache
from memmark.sql import AsyncSQLAlchemyMemory, make_metadata
from memmark.sql._batch import Plan, accept_any, apply, plan_batch
from memmark.sql._statements import Statements
from tests.backends import drop_tables, id_params, server_url, table_prefix
from tests.sql.test_pg_stale_statistics import Counter

ALL = pytest.mark.parametrize("backend", id_params("sqlite", "postgres", "mariadb"))
SERVERS = pytest.mark.parametrize("backend", id_params("postgres", "mariadb"))


def _msg(msg_id: str, content: str = "") -> Msg:
    message = Msg("tester", content or msg_id, "user")
    message.id = msg_id
    return message


def _ids(msgs: list[Msg]) -> list[str]:
    return [m.id for m in msgs]


async def _turn(memory: AsyncSQLAlchemyMemory, n: int, **batch: Any) -> Any:
    """An agent's turn as one batch: every kind of write."""
    return await (
        memory.batch(**batch)
        .add(_msg(f"user-{n}"))
        .add(_msg(f"hint-{n}"), marks="hint")
        .delete_by_mark("hint")
        .upsert(_msg(f"reply-{n}"), marks="reply")
        .update_messages_mark("seen", msg_ids=[f"user-{n}"])
        .update_compressed_summary(f"summary {n}")
        .set_session_state({"turn": n})
        .commit()
    )


@ALL
async def test_a_batch_is_one_commit(engine: AsyncEngine, prefix: str) -> None:
    memory = AsyncSQLAlchemyMemory(engine, "s", "u", table_prefix=prefix)
    await memory.size()  # the tables, made before counting
    commits: list[object] = []

    def count(conn: sa.Connection) -> None:
        commits.append(conn)

    event.listen(engine.sync_engine, "commit", count)
    try:
        result = await _turn(memory, 1, batch_id="turn-1")
    finally:
        event.remove(engine.sync_engine, "commit", count)
    assert len(commits) == 1
    assert result.results == [None, None, 1, 0, 1, None, None]
    assert _ids(await memory.get_memory(prepend_summary=False)) == ["user-1", "reply-1"]
    assert _ids(await memory.get_memory(mark="seen", prepend_summary=False)) == ["user-1"]


@ALL
async def test_an_error_at_the_last_statement_leaves_nothing(
    engine: AsyncEngine, prefix: str
) -> None:
    memory = AsyncSQLAlchemyMemory(engine, "s", "u", table_prefix=prefix)
    await _turn(memory, 1)
    version = await memory.version()
    before = await memory.export_state()

    # The batch of a turn, then a statement the server refuses, in its transaction.
    batch = memory.batch(batch_id="failing")
    batch.add(_msg("user-2")).upsert(_msg("user-1", "changed")).pop().set_session_state({"x": 2})
    batch.update_compressed_summary("lost").clear()
    plan = plan_batch(
        [e for e in batch._entries if type(e) is not tuple],
        Plan(memory._sid, dict(memory._link.bump_params), None, "failing"),
        None if memory._pg else await memory._max_packet(),
        accept_any,
    )

    async def refused(conn: AsyncConnection, statements: Statements) -> None:
        await conn.execute(text("SELECT no_such_column FROM no_such_table"))

    plan.steps.append(refused)
    with pytest.raises(sa.exc.DBAPIError):
        await memory._link.run(partial(apply, plan=plan), write=True)
    assert await memory.version() == version
    assert await memory.export_state() == before
    # Nor was the batch id remembered: the same id applies now.
    result = await memory.batch(batch_id="failing").add(_msg("user-2")).commit()
    assert not result.replayed
    assert result.version > version

    # A refused add (an id taken) also refuses everything before it.
    with pytest.raises(DuplicateMessageError):
        await (
            memory.batch()
            .set_session_state(None)
            .add(_msg("user-2"), skip_duplicated=False)
            .commit()
        )
    assert await memory.get_session_state() == {"turn": 1}


@ALL
async def test_a_batch_in_the_callers_transaction_goes_with_its_rollback(
    engine: AsyncEngine, prefix: str
) -> None:
    reader = AsyncSQLAlchemyMemory(engine, "s", "u", table_prefix=prefix)
    await reader.add(_msg("before"))
    version = await reader.version()
    async with AsyncSession(engine) as session:
        await session.begin()
        memory = AsyncSQLAlchemyMemory(session, "s", "u", table_prefix=prefix)
        result = await _turn(memory, 1, expect_version=version, batch_id="turn-1")
        assert not result.replayed
        # Joined, not committed: still the caller's transaction.
        assert session.in_transaction()
        assert _ids(await memory.get_memory(prepend_summary=False)) == [
            "before",
            "user-1",
            "reply-1",
        ]
        await session.rollback()
    assert await reader.version() == version
    assert _ids(await reader.get_memory()) == ["before"]
    assert await reader.get_session_state() is None
    # The batch id went with the rest: the same batch applies now.
    again = await _turn(reader, 1, expect_version=version, batch_id="turn-1")
    assert not again.replayed
    assert await reader.get_session_state() == {"turn": 1}

    # Committed by the caller, it stays, once.
    async with AsyncSession(engine) as session:
        await session.begin()
        memory = AsyncSQLAlchemyMemory(session, "s", "u", table_prefix=prefix)
        await memory.batch(batch_id="turn-2").set_session_state({"turn": 2}).commit()
        await session.commit()
    assert await reader.get_session_state() == {"turn": 2}
    replay = await reader.batch(batch_id="turn-2").set_session_state({"turn": 3}).commit()
    assert replay.replayed
    assert await reader.get_session_state() == {"turn": 2}


@SERVERS
async def test_concurrent_batches_with_one_expected_version_apply_once(
    engine: AsyncEngine, prefix: str
) -> None:
    memories = [
        AsyncSQLAlchemyMemory(engine, "s", "u", table_prefix=prefix, message_cache=False)
        for _ in range(4)
    ]
    await memories[0].add(_msg("first"))
    for round_ in range(5):
        version = await memories[0].version()

        async def attempt(turn: int, memory: AsyncSQLAlchemyMemory, at: int = version) -> Any:
            try:
                return await _turn(memory, turn, expect_version=at)
            except VersionConflictError as conflict:
                return conflict

        outcomes = await asyncio.gather(
            *(attempt(10 * round_ + n, m) for n, m in enumerate(memories))
        )
        applied = [o for o in outcomes if not isinstance(o, VersionConflictError)]
        assert len(applied) == 1, outcomes
        conflicts = [o for o in outcomes if isinstance(o, VersionConflictError)]
        assert all(c.expected == version and c.actual == applied[0].version for c in conflicts)
        assert await memories[0].version() == applied[0].version
    users = [m.id for m in await memories[0].get_memory() if m.id.startswith("user-")]
    assert len(users) == 5


# -- PostgreSQL: a page reads a page's rows, whatever the statistics ------------------

LONG = 2_000
PAGE = 50


@pytest.fixture
async def long_session() -> AsyncIterator[
    tuple[AsyncSQLAlchemyMemory, Callable[[], Awaitable[None]], Counter]
]:
    url = server_url("postgres")
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    observer = create_async_engine(url, pool_size=1, max_overflow=0)
    prefix = table_prefix()
    try:
        # Statistics taken while the tables held a small other session.
        small = AsyncSQLAlchemyMemory(engine, "small", "u", table_prefix=prefix)
        await small.add([_msg(f"small-{n}") for n in range(20)], "even")
        async with engine.begin() as conn:
            for name in make_metadata(prefix).tables:
                await conn.execute(text(f"ALTER TABLE {name} SET (autovacuum_enabled = false)"))
                await conn.execute(text(f"ANALYZE {name}"))
        memory = AsyncSQLAlchemyMemory(engine, "big", "u", table_prefix=prefix, message_cache=False)
        for start in range(0, LONG, 500):
            await memory.add([_msg(f"m{n}") for n in range(start, start + 500, 2)], "even")
            await memory.add([_msg(f"m{n}") for n in range(start + 1, start + 500, 2)])

        async def publish() -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_stat_force_next_flush()"))
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        yield memory, publish, Counter(observer, prefix)
    finally:
        await drop_tables(engine, prefix)
        await engine.dispose()
        await observer.dispose()


@pytest.mark.postgres
async def test_a_page_near_the_end_of_a_long_session_reads_a_page_of_rows(
    long_session: tuple[AsyncSQLAlchemyMemory, Callable[[], Awaitable[None]], Counter],
) -> None:
    memory, publish, counter = long_session
    near_end = f"m{LONG - 100}"
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("get_memory()", lambda: memory.get_memory()),
        ("get_page()", lambda: memory.get_page(limit=PAGE)),
        ("get_page(before)", lambda: memory.get_page(limit=PAGE, before=near_end)),
        ("get_page(after)", lambda: memory.get_page(limit=PAGE, after=near_end)),
        ("get_page(mark)", lambda: memory.get_page(limit=PAGE, mark="even")),
        ("get_page(exclude_mark)", lambda: memory.get_page(limit=PAGE, exclude_mark="even")),
        ("get_messages", lambda: memory.get_messages([near_end, f"m{LONG - 1}"])),
    ]
    read = await counter.per_call(publish, calls)
    # The counters see a whole read, or this test would prove nothing.
    assert read["get_memory()"] >= LONG, read
    over = {name: rows for name, rows in read.items() if name != "get_memory()" and rows > 8 * PAGE}
    assert not over, f"rows read per call, for a {LONG:,}-message session: {read}"
    page = await memory.get_page(limit=PAGE, before=near_end, exclude_mark="even")
    # Each 500 were added evens first: the odd ones older than m1900 end at m1499.
    assert _ids(page.messages) == [f"m{n}" for n in range(1401, 1500, 2)]
    assert page.has_more


@ALL
async def test_the_message_cache_follows_batches_upserts_and_pops(
    engine: AsyncEngine, prefix: str
) -> None:
    cache = MessageCache()
    cached = AsyncSQLAlchemyMemory(engine, "s", "u", table_prefix=prefix, message_cache=cache)
    plain = AsyncSQLAlchemyMemory(engine, "s", "u", table_prefix=prefix, message_cache=False)

    async def same() -> None:
        for args in ((None, None), ("reply", None), (None, "seen"), ("seen", "reply")):
            ours = await cached.get_memory(*args, prepend_summary=False)
            stored = await plain.get_memory(*args, prepend_summary=False)
            assert [(m.id, m.content) for m in ours] == [(m.id, m.content) for m in stored], args

    await cached.add([_msg("a"), _msg("b")], marks="reply")
    await cached.get_memory()  # held from here on
    assert len(cache) == 1
    for n in range(3):
        await _turn(cached, n)
        await same()
        assert len(cache) == 1  # applied to the snapshot, not dropped
    assert await cached.upsert([_msg("a", "changed"), _msg("c")], marks="seen") == 1
    await same()
    popped = await cached.pop()
    assert popped is not None
    assert popped.id == "c"
    await same()
    await cached.batch().pop().pop().upsert(_msg("b", "again")).clear().add(_msg("d")).commit()
    await same()
    assert len(cache) == 1
    # A replayed batch changes nothing, and a write by another handle is seen.
    await cached.batch(batch_id="x").add(_msg("e")).commit()
    await cached.batch(batch_id="x").add(_msg("f")).commit()
    await plain.upsert(_msg("d", "from elsewhere"))
    await same()
    assert _ids(await cached.get_memory(prepend_summary=False)) == ["d", "e"]
