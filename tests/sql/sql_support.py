"""SQL test databases: SQLite (file and :memory:), PostgreSQL, MariaDB."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from servers import MYSQL_URL, PG_URL, require_server
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from memmark.core import MemoryBase
from memmark.core.testing import MemoryFactory
from memmark.sql import AsyncSQLAlchemyMemory, make_metadata

BACKENDS = ("sqlite", "sqlite-memory", "postgres", "mariadb")


def unique_prefix() -> str:
    """Return a table prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}_"


def make_engine(backend: str, tmp_path: Path) -> AsyncEngine:
    """Return a new engine on ``backend`` (skips when its server is down)."""
    if backend == "sqlite":
        return create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'memory.db'}")
    if backend == "sqlite-memory":
        # One shared connection, or every checkout would see its own empty database.
        return create_async_engine(
            "sqlite+aiosqlite://",
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
    if backend == "postgres":
        return create_async_engine(require_server("PostgreSQL", PG_URL))
    if backend == "mariadb":
        return create_async_engine(require_server("MariaDB", MYSQL_URL))
    raise ValueError(backend)


async def drop_tables(engine: AsyncEngine, prefix: str) -> None:
    """Drop the tables of ``prefix`` (a test's own, nothing else)."""
    async with engine.begin() as conn:
        await conn.run_sync(make_metadata(prefix).drop_all)


@contextlib.asynccontextmanager
async def sql_factory(
    backend: str, tmp_path: Path, prefix: str | None = None
) -> AsyncIterator[MemoryFactory]:
    """A MemoryFactory on ``backend``, with tables of a unique prefix dropped at the end."""
    engine = make_engine(backend, tmp_path)
    prefix = prefix or unique_prefix()
    made: list[MemoryBase] = []

    async def make(user_id: str, session_id: str) -> MemoryBase:
        memory = AsyncSQLAlchemyMemory(
            engine, session_id=session_id, user_id=user_id, table_prefix=prefix
        )
        made.append(memory)
        return memory

    try:
        yield make
    finally:
        for memory in made:
            await memory.close()
        try:
            await drop_tables(engine, prefix)
        finally:
            await engine.dispose()


def backend_marks(backend: str) -> list[pytest.MarkDecorator]:
    return {"postgres": [pytest.mark.postgres], "mariadb": [pytest.mark.mysql]}.get(backend, [])


def backend_params(backends: tuple[str, ...] = BACKENDS) -> list[object]:
    """``pytest.param`` per backend, with its server marker."""
    return [pytest.param(b, id=b, marks=backend_marks(b)) for b in backends]


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def engine(backend: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(backend, tmp_path)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def prefix(engine: AsyncEngine) -> AsyncIterator[str]:
    """A unique table prefix whose tables are dropped after the test."""
    name = unique_prefix()
    yield name
    await drop_tables(engine, name)


@pytest.fixture
def memory_on(engine: AsyncEngine, prefix: str) -> Callable[..., AsyncSQLAlchemyMemory]:
    def make(user_id: str = "u", session_id: str = "s") -> AsyncSQLAlchemyMemory:
        return AsyncSQLAlchemyMemory(
            engine, session_id=session_id, user_id=user_id, table_prefix=prefix
        )

    return make
