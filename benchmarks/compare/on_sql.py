"""SQL rows of the comparison: memmark's AsyncSQLAlchemyMemory against the peer's, and floors.

Both memories run on the same servers: SQLite (files in a temporary
directory), PostgreSQL and MariaDB (from the backend table, ``tests/backends.py``).
The peer's table names are fixed, so it gets a database of its own
(``memmark_bench_peer``, dropped at the end); memmark uses a unique table
prefix in the configured database, dropped at the end too. Every row carries
its floor (``benchmarks/compare/floors.py``): the driver itself (asyncpg,
asyncmy, aiosqlite) writing the same rows with ``executemany`` or reading them
with one ``fetch`` and decoding them, timed in the same loop between the same
calls.

The reads on stale statistics are the ``sql-stale`` section
(``benchmarks/compare/on_sql_stale.py``).
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks.compare.floors import RawSQL, sql_floors
from benchmarks.compare.timing import Config, Row, Table, compare_rows, interleaved
from benchmarks.corpus import fill, fresh_indices
from benchmarks.operations import Side
from benchmarks.peer_db import peer_database
from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory, make_metadata
from tests.backends import BY_ID


@contextlib.asynccontextmanager
async def _engines(backend: str, tmp: Path) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Yield (peer engine, memmark engine) on ``backend``; the peer's in its own database."""
    if backend == "sqlite":
        peer = create_async_engine(f"sqlite+aiosqlite:///{tmp / 'peer.db'}")
        ours = create_async_engine(f"sqlite+aiosqlite:///{tmp / 'memmark.db'}")
        try:
            yield peer, ours
        finally:
            await peer.dispose()
            await ours.dispose()
        return
    ours = create_async_engine(BY_ID[backend].url)
    try:
        async with peer_database(BY_ID[backend].url) as peer:
            yield peer, ours
    finally:
        await ours.dispose()


async def _backend(table: Table, cfg: Config, backend: str, tmp: Path) -> None:
    from agentscope.memory import AsyncSQLAlchemyMemory as PeerMemory
    from agentscope.message import Msg as PeerMsg

    prefix = f"bench_{uuid.uuid4().hex[:8]}_"
    async with _engines(backend, tmp) as (peer_engine, our_engine):
        peer_memory = PeerMemory(peer_engine, session_id="bench", user_id="bench")
        our_memory = AsyncSQLAlchemyMemory(
            our_engine, session_id="bench", user_id="bench", table_prefix=prefix
        )
        peer = Side(peer_memory, PeerMsg, cfg.corpus, native_limit=False)
        ours = Side(our_memory, Msg, cfg.corpus)

        async def analyze() -> None:
            # Fresh tables have no statistics until autovacuum's next pass;
            # both sides get them now, so plans are the ones that run later.
            # begin(): ANALYZE is transactional, and a connect() block
            # rolls back on exit, which would throw the statistics away.
            for engine in (peer_engine, our_engine):
                async with engine.begin() as conn:
                    await conn.exec_driver_sql("ANALYZE")

        async def settle() -> None:
            # The add rows leave tens of thousands of dead rows behind (each
            # batch is deleted again); the reads that follow would otherwise
            # time the walk over them, which autovacuum clears in real use.
            # Both sides get the same: the peer's database is its own.
            ours_tables = ", ".join(t.name for t in make_metadata(prefix).sorted_tables)
            for engine, sql in (
                (peer_engine, "VACUUM ANALYZE"),
                (our_engine, f"VACUUM ANALYZE {ours_tables}"),
            ):
                async with engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await conn.exec_driver_sql(sql)

        # SQLite has no dead rows to skip; InnoDB purges on its own.
        after = {"add_100": settle} if backend == "postgres" else {}
        floor_memory = AsyncSQLAlchemyMemory(
            our_engine, session_id="floor", user_id="bench", table_prefix=prefix
        )
        try:
            async with RawSQL.of(our_engine) as raw:
                floors = await sql_floors(raw, floor_memory, cfg.corpus, cfg.messages, prefix)
                await compare_rows(
                    table,
                    cfg,
                    backend,
                    peer,
                    ours,
                    floors=floors,
                    before_rows=analyze if after else None,
                    after=after,
                )
            await turn_rows(table, cfg, backend, our_engine, prefix)
        finally:
            await floor_memory.close()
            await peer_memory.close()
            await our_memory.close()
            async with our_engine.begin() as conn:
                await conn.run_sync(make_metadata(prefix).drop_all)


async def run(table: Table, cfg: Config) -> None:
    """Measure every operation on SQLite, PostgreSQL and MariaDB, side by side."""
    with tempfile.TemporaryDirectory(prefix="memmark-bench-") as tmp:
        for backend in ("sqlite", "postgres", "mariadb"):
            await _backend(table, cfg, backend, Path(tmp))


async def turn_rows(
    table: Table, cfg: Config, backend: str, engine: AsyncEngine, prefix: str
) -> None:
    """An agent's turn as one batch against the same turn as seven calls (no peer row).

    The turn: add the user's message, add a hint (marked), delete the hints,
    upsert the reply (marked), mark the user's message seen, store the
    summary and the state slot; agent-shaped messages from the corpus. Both
    run on sessions of ``cfg.messages`` messages, interleaved call by call.
    The batch carries a batch id and ``expect_version``, as an agent that
    retries would send it (one more read of the version per turn, untimed).
    """
    corpus = cfg.corpus
    fresh = fresh_indices()
    sides: dict[str, AsyncSQLAlchemyMemory] = {}
    for name in ("calls", "batch"):
        memory = AsyncSQLAlchemyMemory(
            engine, session_id=f"turn-{name}", user_id="bench", table_prefix=prefix
        )
        await fill(memory, corpus.session(Msg, cfg.messages))
        sides[name] = memory
    turns = iter(range(10**9))

    def messages() -> tuple[Msg, Msg, Msg]:
        return (
            corpus.message(Msg, next(fresh)),
            corpus.message(Msg, next(fresh)),
            corpus.message(Msg, next(fresh)),
        )

    async def as_calls() -> None:
        memory = sides["calls"]
        user, hint, reply = messages()
        n = next(turns)
        await memory.add(user)
        await memory.add(hint, marks="hint")
        await memory.delete_by_mark("hint")
        await memory.upsert(reply, marks="reply")
        await memory.update_messages_mark("seen", msg_ids=[user.id])
        await memory.update_compressed_summary(f"summary after turn {n}")
        await memory.set_session_state({"turn": n, "agent": "bench"})

    versions = {"batch": 0}

    async def read_version() -> None:
        versions["batch"] = await sides["batch"].version()

    async def as_batch() -> None:
        memory = sides["batch"]
        user, hint, reply = messages()
        n = next(turns)
        await (
            memory.batch(expect_version=versions["batch"], batch_id=f"turn-{n}")
            .add(user)
            .add(hint, marks="hint")
            .delete_by_mark("hint")
            .upsert(reply, marks="reply")
            .update_messages_mark("seen", msg_ids=[user.id])
            .update_compressed_summary(f"summary after turn {n}")
            .set_session_state({"turn": n, "agent": "bench"})
            .commit()
        )

    try:
        calls_us, batch_us = await interleaved(
            [(as_calls, None), (as_batch, read_version)], rounds=cfg.rounds
        )
    finally:
        for memory in sides.values():
            await memory.close()
    table.add(Row("agent turn, 7 calls", backend, corpus.shape, None, calls_us))
    note = f"{calls_us / batch_us:.2f}× the 7 calls' speed; one transaction"
    table.add(Row("agent turn, 1 batch", backend, corpus.shape, None, batch_us, note))
