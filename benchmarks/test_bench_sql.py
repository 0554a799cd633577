"""AsyncSQLAlchemyMemory per-call costs on SQLite, PostgreSQL and MariaDB.

Run with ``uv run pytest benchmarks/test_bench_sql.py --benchmark-only``.
Every operation of ``benchmarks/operations.py`` on sessions of 1,000 and
10,000 messages, agent-shaped and plain (``benchmarks/corpus.py``). Each
backend runs in an event loop of its own, driven synchronously so
pytest-benchmark times whole calls, round trips included. Servers come from
the backend table (``tests/backends.py``); a missing one skips its backend
(fails under ``MEMMARK_REQUIRE_SERVERS=1``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from benchmarks.operations import OPERATIONS, Operation
from benchmarks.suite import Session, time_operation
from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory, make_metadata
from tests.backends import backends, drop_tables, sql_engine, table_prefix, usable

SESSIONS = [
    backend.param((backend, shape, size), id=f"{backend.id}-{shape}-{size}msgs")
    for backend in backends("sqlite", "postgres", "mariadb")
    for shape in ("agent", "plain")
    for size in (1_000, 10_000)
]
WRITE_ROUNDS = 40
READ_ROUNDS = 20


async def _analyze(engine: object, prefix: str) -> None:
    # Fresh tables have no statistics until autovacuum's next pass; plans made
    # without them (anti-joins, say) are not what runs later. begin(): ANALYZE
    # is transactional, and a connect() block rolls back on exit.
    async with engine.begin() as conn:  # type: ignore[attr-defined]
        for table in make_metadata(prefix).sorted_tables:
            await conn.exec_driver_sql(f"ANALYZE {table.name}")


@pytest.fixture(scope="module", params=SESSIONS)
def session(request: pytest.FixtureRequest) -> Iterator[Session]:
    backend, shape, size = request.param
    engine = sql_engine(usable(request, backend).url)
    prefix = table_prefix()
    loop = asyncio.new_event_loop()
    memory = AsyncSQLAlchemyMemory(engine, "bench", "bench", table_prefix=prefix)
    try:
        bench = Session(memory, Msg, shape, size, loop)
        if backend.id == "postgres":
            loop.run_until_complete(_analyze(engine, prefix))
        yield bench
    finally:
        loop.run_until_complete(memory.close())
        loop.run_until_complete(drop_tables(engine, prefix))
        loop.run_until_complete(engine.dispose())
        loop.close()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.slug)
def test_operation(benchmark: object, session: Session, operation: Operation) -> None:
    rounds = READ_ROUNDS if operation.reads else WRITE_ROUNDS
    time_operation(benchmark, session, operation, rounds)
