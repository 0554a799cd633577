"""The tutorial's FastAPI pattern on SQL: one pooled engine, one AsyncSession per request.

Run it with ``uv run uvicorn examples.fastapi_app:app`` (database from
``MEMMARK_DATABASE_URL``, default a SQLite file ``./test_memory.db``), then::

    curl -X POST 'localhost:8000/chat?user_id=u1&session_id=s1&input=hello'

Each request makes a new ``AsyncSQLAlchemyMemory`` on its own session: the
tables were created once, by the first request, so a request costs no DDL
and no extra round trip.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory

DATABASE_URL = os.environ.get("MEMMARK_DATABASE_URL", "sqlite+aiosqlite:///./test_memory.db")
TABLE_PREFIX = os.environ.get("MEMMARK_TABLE_PREFIX", "memmark_")

# Create an async SQLAlchemy engine with connection pooling
engine = create_async_engine(
    DATABASE_URL,
    pool_size=10,
    max_overflow=20,
    pool_timeout=30,
    pool_pre_ping=True,
)

# Create a session maker
async_session_maker = async_sessionmaker(
    engine,
    expire_on_commit=False,
    autocommit=False,
    autoflush=False,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    # The app owns the engine: it disposes it; memories never do.
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_db() -> AsyncGenerator[AsyncSession, None]:
    async with async_session_maker() as session:
        try:
            yield session
            await session.commit()
        except Exception:
            await session.rollback()
            raise
        finally:
            await session.close()


@app.post("/chat")
async def chat_endpoint(
    user_id: str,
    session_id: str,
    input: str,
    db_session: AsyncSession = Depends(get_db),  # noqa: B008  # FastAPI's idiom
) -> list[dict[str, Any]]:
    """Store the user's message and an echo reply; return the session's history."""
    memory = AsyncSQLAlchemyMemory(
        engine_or_session=db_session,
        user_id=user_id,
        session_id=session_id,
        table_prefix=TABLE_PREFIX,
    )
    # An agent would run here; an echo stands in for its reply.
    await memory.add(Msg("user", input, "user"))
    await memory.add(Msg("assistant", f"echo: {input}", "assistant"), marks="reply")
    history = await memory.get_memory()
    return [m.to_dict() for m in history]
