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
from benchmarks.compare.timing import Config, Table, compare_rows
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
