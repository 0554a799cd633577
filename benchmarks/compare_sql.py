"""SQL rows of ``compare.py``: memmark's AsyncSQLAlchemyMemory against the peer's, and floors.

Both memories run on the same servers: SQLite (files in a temporary
directory), PostgreSQL (``MEMMARK_PG_URL``) and MariaDB (``MEMMARK_MYSQL_URL``).
The peer's table names are fixed, so it gets a database of its own
(``memmark_bench_peer``, dropped at the end); memmark uses a unique table
prefix in the configured database, dropped at the end too. Floors (PostgreSQL)
are what bare asyncpg pays for the same work: the same 100 rows inserted with
``executemany``, the same session read with one ``fetch``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from _harness import Config, Contract, Row, Table, payload, side_by_side
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory, id_digest, make_metadata, pair_digest

PG_URL = os.environ.get("MEMMARK_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("MEMMARK_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306/test")
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
    url = PG_URL if backend == "postgresql" else MYSQL_URL
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
    url = make_url(PG_URL)
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
        counter = iter(range(10**9))
        rows: list[tuple[Any, ...]] = []

        async def prepare() -> None:
            await conn.execute(
                f"DELETE FROM {message} WHERE sid = $1 AND msg_id LIKE 'floor-%'", sid
            )
            rows.clear()
            for _ in range(100):
                m = Msg("user", payload(next(counter), cfg.payload_bytes), "user")
                m.id = f"floor-{m.id}"
                rows.append((sid, id_digest(m.id), m.id, json.dumps(m.to_dict())))

        _, floor = await side_by_side(
            None, lambda: conn.executemany(insert, rows), rounds=cfg.rounds, our_setup=prepare
        )
        await prepare()
        table.add(Row("floor: add 100 (executemany)", "postgresql", None, floor, "raw asyncpg"))

        select = f"SELECT msg FROM {message} WHERE sid = $1 ORDER BY seq"
        _, floor = await side_by_side(None, lambda: conn.fetch(select, sid), rounds=cfg.rounds)
        table.add(Row("floor: get_memory all (fetch)", "postgresql", None, floor, "raw asyncpg"))

        async def fetch_decoded() -> list[Any]:
            return [json.loads(r[0]) for r in await conn.fetch(select, sid)]

        _, floor = await side_by_side(None, fetch_decoded, rounds=cfg.rounds)
        table.add(
            Row("floor: fetch + json.loads", "postgresql", None, floor, "raw asyncpg + decode")
        )
    finally:
        await conn.close()


async def _backend(table: Table, cfg: Config, backend: str, tmp: Path) -> None:
    from agentscope.memory import AsyncSQLAlchemyMemory as PeerMemory
    from agentscope.message import Msg as PeerMsg

    prefix = f"bench_{uuid.uuid4().hex[:8]}_"
    async with _engines(backend, tmp) as (peer_engine, our_engine):
        peer = PeerMemory(peer_engine, session_id="bench", user_id="bench")
        ours = AsyncSQLAlchemyMemory(
            our_engine, session_id="bench", user_id="bench", table_prefix=prefix
        )
        rows = Contract(table, cfg, backend, peer, ours, PeerMsg, Msg)
        try:
            await rows.fill()
            if backend == "postgresql":
                # Fresh tables have no statistics until autovacuum's next pass;
                # both sides get them now, so plans are the ones that run later.
                # begin(): ANALYZE is transactional, and a connect() block
                # rolls back on exit, which would throw the statistics away.
                for engine in (peer_engine, our_engine):
                    async with engine.begin() as conn:
                        await conn.exec_driver_sql("ANALYZE")

            async def settle() -> None:
                if backend != "postgresql":
                    return  # SQLite has no dead rows to skip; InnoDB purges on its own
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

            await _rows(rows, settle)
            if backend == "postgresql":
                await _floors(table, cfg, prefix, pair_digest("bench", "bench"))
        finally:
            await peer.close()
            await ours.close()
            async with our_engine.begin() as conn:
                await conn.run_sync(make_metadata(prefix).drop_all)


async def _rows(rows: Contract, settle: Callable[[], Awaitable[None]]) -> None:
    await rows.add_one()
    await rows.add_batch()
    await settle()
    await rows.get_all()
    await rows.get_mark()
    await rows.delete_one()
    await rows.delete_by_mark()
    await rows.update_marks()


async def run(table: Table, cfg: Config) -> None:
    """Measure every operation on SQLite, PostgreSQL and MariaDB, side by side."""
    with tempfile.TemporaryDirectory(prefix="memmark-bench-") as tmp:
        for backend in ("sqlite", "postgresql", "mariadb"):
            await _backend(table, cfg, backend, Path(tmp))
