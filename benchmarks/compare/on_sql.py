"""SQL rows of the comparison: memmark's AsyncSQLAlchemyMemory against the peer's, and floors.

Both memories run on the same servers: SQLite (files in a temporary
directory), PostgreSQL and MariaDB (from the backend table, ``tests/backends.py``).
The peer's table names are fixed, so it gets a database of its own
(``memmark_bench_peer``, dropped at the end); memmark uses a unique table
prefix in the configured database, dropped at the end too. Floors (PostgreSQL)
are what bare asyncpg pays for the same work: the same 100 rows inserted with
``executemany``, the same session read with one ``fetch``.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from benchmarks.compare.timing import Config, Row, Table, compare_rows, side_by_side
from benchmarks.operations import Side
from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory, id_digest, make_metadata, pair_digest
from tests.backends import BY_ID

PEER_DB = "memmark_bench_peer"


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
    url = BY_ID[backend].url
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await _drop_peer_db(conn)
        await conn.execute(sa.text(f"CREATE DATABASE {PEER_DB}"))
    peer = create_async_engine(make_url(url).set(database=PEER_DB))
    ours = create_async_engine(url)
    try:
        yield peer, ours
    finally:
        await peer.dispose()
        await ours.dispose()
        async with admin.connect() as conn:
            await _drop_peer_db(conn)
        await admin.dispose()


async def _drop_peer_db(conn: AsyncConnection) -> None:
    # Looked up first: MariaDB's driver prints a warning of its own when
    # DROP DATABASE IF EXISTS finds nothing.
    if conn.dialect.name == "postgresql":
        exists = "SELECT 1 FROM pg_database WHERE datname = :name"
        drop = f"DROP DATABASE {PEER_DB} WITH (FORCE)"
    else:
        exists = "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"
        drop = f"DROP DATABASE {PEER_DB}"
    if (await conn.execute(sa.text(exists), {"name": PEER_DB})).first() is not None:
        await conn.execute(sa.text(drop))


async def _floors(table: Table, cfg: Config, prefix: str, sid: bytes) -> None:
    """Bare asyncpg on memmark's own message table: the least the work could cost."""
    shape = cfg.corpus.shape
    url = make_url(BY_ID["postgres"].url)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        message = f"{prefix}message"
        insert = f"INSERT INTO {message} (sid, mid, msg_id, msg) VALUES ($1, $2, $3, $4)"
        side = Side(None, Msg, cfg.corpus)
        rows: list[tuple[Any, ...]] = []

        async def prepare() -> None:
            await conn.execute(
                f"DELETE FROM {message} WHERE sid = $1 AND msg_id LIKE 'floor-%'", sid
            )
            rows.clear()
            for m in side.fresh(100):
                m.id = f"floor-{m.id}"
                rows.append((sid, id_digest(m.id), m.id, json.dumps(m.to_dict())))

        _, floor = await side_by_side(
            None, lambda: conn.executemany(insert, rows), rounds=cfg.rounds, our_setup=prepare
        )
        await prepare()
        table.add(
            Row("floor: add 100 (executemany)", "postgres", shape, None, floor, "raw asyncpg")
        )

        select = f"SELECT msg FROM {message} WHERE sid = $1 ORDER BY seq"
        _, floor = await side_by_side(None, lambda: conn.fetch(select, sid), rounds=cfg.rounds)
        table.add(
            Row("floor: get_memory all (fetch)", "postgres", shape, None, floor, "raw asyncpg")
        )

        async def fetch_decoded() -> list[Any]:
            return [json.loads(r[0]) for r in await conn.fetch(select, sid)]

        _, floor = await side_by_side(None, fetch_decoded, rounds=cfg.rounds)
        table.add(
            Row("floor: fetch + json.loads", "postgres", shape, None, floor, "raw asyncpg + decode")
        )
    finally:
        await conn.close()


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
        try:
            await compare_rows(
                table,
                cfg,
                backend,
                peer,
                ours,
                before_rows=analyze if after else None,
                after=after,
            )
            if backend == "postgres":
                await _floors(table, cfg, prefix, pair_digest("bench", "bench"))
        finally:
            await peer_memory.close()
            await our_memory.close()
            async with our_engine.begin() as conn:
                await conn.run_sync(make_metadata(prefix).drop_all)


async def run(table: Table, cfg: Config) -> None:
    """Measure every operation on SQLite, PostgreSQL and MariaDB, side by side."""
    with tempfile.TemporaryDirectory(prefix="memmark-bench-") as tmp:
        for backend in ("sqlite", "postgres", "mariadb"):
            await _backend(table, cfg, backend, Path(tmp))
