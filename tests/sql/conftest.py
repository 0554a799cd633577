"""Fixtures of the SQL tests: each SQL backend of the table, its engine, a table prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from memmark.sql import AsyncSQLAlchemyMemory
from tests.backends import BY_ID, drop_tables, id_params, sql_engine, table_prefix, usable


@pytest.fixture(params=id_params(kind="sql"))
def backend(request: pytest.FixtureRequest) -> str:
    """The id of each SQL backend (a test may parametrise ``backend`` with fewer)."""
    return str(request.param)


@pytest.fixture
async def engine(request: pytest.FixtureRequest, backend: str) -> AsyncIterator[AsyncEngine]:
    eng = sql_engine(usable(request, BY_ID[backend]).url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def prefix(engine: AsyncEngine) -> AsyncIterator[str]:
    """A unique table prefix whose tables are dropped after the test."""
    name = table_prefix()
    yield name
    await drop_tables(engine, name)


@pytest.fixture
def memory_on(engine: AsyncEngine, prefix: str) -> Callable[..., AsyncSQLAlchemyMemory]:
    def make(user_id: str = "u", session_id: str = "s") -> AsyncSQLAlchemyMemory:
        return AsyncSQLAlchemyMemory(
            engine, session_id=session_id, user_id=user_id, table_prefix=prefix
        )

    return make
