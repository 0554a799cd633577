"""AsyncSQLAlchemyMemory per-call costs on SQLite, PostgreSQL and MariaDB.

Run with ``uv run pytest benchmarks/test_bench_sql.py --benchmark-only``.
Sessions of 1,000 and 10,000 messages (10 % marked "hint", 10 % "tool"),
200-byte messages. Each backend runs in an event loop of its own, driven
synchronously so pytest-benchmark times whole calls, round trips included.
A missing server skips its backend (fails under ``MEMMARK_REQUIRE_SERVERS=1``).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from collections.abc import Coroutine, Iterator
from itertools import count
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory, make_metadata

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import MYSQL_URL, PG_URL, require_server

SIZES = [1_000, 10_000]
WRITE_ROUNDS = 40
READ_ROUNDS = 20
T = TypeVar("T")


def text(i: int) -> str:
    return f"message {i}: " + "x" * 186


class Bench:
    """One backend's engine, loop and filled session."""

    def __init__(self, loop: asyncio.AbstractEventLoop, engine: AsyncEngine, size: int) -> None:
        self.loop = loop
        self.engine = engine
        self.prefix = f"bench_{uuid.uuid4().hex[:8]}_"
        self.memory = AsyncSQLAlchemyMemory(engine, "bench", "bench", table_prefix=self.prefix)
        msgs = [Msg("user", text(i), "user") for i in range(size)]
        for mark, start in (("hint", 3), ("tool", 7)):
            self.run(self.memory.add(msgs[start::10], marks=mark))
        self.run(self.memory.add(msgs))  # the rest, unmarked; order is by first add
        if engine.dialect.name == "postgresql":
            # Fresh tables have no statistics until autovacuum's next pass;
            # plans made without them (anti-joins, say) are not what runs later.
            self.run(self._analyze())
        self.fresh = count(10**9)

    async def _analyze(self) -> None:
        # begin(): ANALYZE is transactional, and a connect() block rolls
        # back on exit, which would throw the statistics away.
        async with self.engine.begin() as conn:
            for table in make_metadata(self.prefix).sorted_tables:
                await conn.exec_driver_sql(f"ANALYZE {table.name}")

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def msg(self) -> Msg:
        return Msg("user", text(next(self.fresh)), "user")

    def close(self) -> None:
        async def drop() -> None:
            async with self.engine.begin() as conn:
                await conn.run_sync(make_metadata(self.prefix).drop_all)
            await self.engine.dispose()

        self.run(drop())


def _engine(backend: str, tmp: Path) -> AsyncEngine:
    if backend == "sqlite":
        return create_async_engine(f"sqlite+aiosqlite:///{tmp / 'bench.db'}")
    if backend == "postgres":
        return create_async_engine(require_server("PostgreSQL", PG_URL))
    return create_async_engine(require_server("MariaDB", MYSQL_URL))


@pytest.fixture(
    scope="module",
    params=[(b, n) for b in ("sqlite", "postgres", "mariadb") for n in SIZES],
    ids=lambda p: f"{p[0]}-{p[1]}msgs",
)
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    backend, size = request.param
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as tmp:
        engine = _engine(backend, Path(tmp))
        b = Bench(loop, engine, size)
        try:
            yield b
        finally:
            b.close()
            loop.close()


def test_add_1(benchmark: BenchmarkFixture, bench: Bench) -> None:
    before = bench.run(bench.memory.size())

    def setup() -> tuple[tuple[Msg], dict[str, Any]]:
        return (bench.msg(),), {}

    benchmark.pedantic(lambda m: bench.run(bench.memory.add(m)), setup=setup, rounds=WRITE_ROUNDS)
    newest = bench.run(bench.memory.get_memory(limit=WRITE_ROUNDS, prepend_summary=False))
    assert bench.run(bench.memory.delete([m.id for m in newest])) == WRITE_ROUNDS
    assert bench.run(bench.memory.size()) == before


def test_add_100_two_marks(benchmark: BenchmarkFixture, bench: Bench) -> None:
    def setup() -> tuple[tuple[list[Msg]], dict[str, Any]]:
        bench.run(bench.memory.delete_by_mark("batch"))  # keep the session at its size
        return ([bench.msg() for _ in range(100)],), {}

    benchmark.pedantic(
        lambda ms: bench.run(bench.memory.add(ms, marks=["batch", "tool"])),
        setup=setup,
        rounds=WRITE_ROUNDS,
    )
    assert bench.run(bench.memory.delete_by_mark("batch")) == 100


def test_get_memory_all(benchmark: BenchmarkFixture, bench: Bench) -> None:
    size = bench.run(bench.memory.size())
    got = benchmark.pedantic(lambda: bench.run(bench.memory.get_memory()), rounds=READ_ROUNDS)
    assert len(got) == size


def test_get_memory_by_mark(benchmark: BenchmarkFixture, bench: Bench) -> None:
    size = bench.run(bench.memory.size())
    got = benchmark.pedantic(
        lambda: bench.run(bench.memory.get_memory(mark="hint")), rounds=READ_ROUNDS
    )
    assert len(got) == size // 10


def test_get_memory_exclude(benchmark: BenchmarkFixture, bench: Bench) -> None:
    size = bench.run(bench.memory.size())
    got = benchmark.pedantic(
        lambda: bench.run(bench.memory.get_memory(exclude_mark="hint")), rounds=READ_ROUNDS
    )
    assert len(got) == size - size // 10


def test_get_memory_limit_20(benchmark: BenchmarkFixture, bench: Bench) -> None:
    got = benchmark.pedantic(
        lambda: bench.run(bench.memory.get_memory(limit=20)), rounds=WRITE_ROUNDS
    )
    assert len(got) == 20


def test_delete_1(benchmark: BenchmarkFixture, bench: Bench) -> None:
    def setup() -> tuple[tuple[str], dict[str, Any]]:
        m = bench.msg()
        bench.run(bench.memory.add(m, marks="tool"))
        return (m.id,), {}

    benchmark.pedantic(
        lambda i: bench.run(bench.memory.delete([i])), setup=setup, rounds=WRITE_ROUNDS
    )


def test_delete_by_mark_10(benchmark: BenchmarkFixture, bench: Bench) -> None:
    def setup() -> tuple[tuple[()], dict[str, Any]]:
        bench.run(bench.memory.add([bench.msg() for _ in range(10)], marks="doomed"))
        return (), {}

    counts = []

    def delete() -> None:
        counts.append(bench.run(bench.memory.delete_by_mark("doomed")))

    benchmark.pedantic(delete, setup=setup, rounds=WRITE_ROUNDS)
    assert set(counts) == {10}


def test_update_messages_mark_10_percent(benchmark: BenchmarkFixture, bench: Bench) -> None:
    size = bench.run(bench.memory.size())

    def setup() -> tuple[tuple[()], dict[str, Any]]:
        bench.run(bench.memory.update_messages_mark("hint", old_mark="done"))
        return (), {}

    changed = []

    def remark() -> None:
        changed.append(bench.run(bench.memory.update_messages_mark("done", old_mark="hint")))

    benchmark.pedantic(remark, setup=setup, rounds=WRITE_ROUNDS)
    bench.run(bench.memory.update_messages_mark("hint", old_mark="done"))
    assert set(changed) == {size // 10}
