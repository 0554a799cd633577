"""The AgentScope tutorial's ``/chat`` endpoint, its ReActAgent's memory on memmark.

Run it with ``uv run uvicorn examples.agentscope_fastapi:app``, then::

    curl -X POST 'localhost:8000/chat?user_id=u1&session_id=s1&input=Paris'

``MEMMARK_BACKEND`` picks where conversations live: ``sql`` (the default;
the database of ``MEMMARK_DATABASE_URL``, a SQLite file ``./test_memory.db``
unless set), ``redis`` (``MEMMARK_REDIS_URL``) or ``in-memory`` (lost on
restart; one worker only). As in the tutorial, the SQL engine is pooled and
each request gets its own ``AsyncSession``; Redis requests share one
``ConnectionPool`` with ``decode_responses=True``. Each request builds a new
agent and a new memory, which continues the conversation of its
``(user_id, session_id)``. The model is scripted (a tool call, then an
answer) unless ``OPENAI_API_KEY`` is set.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from agentscope.agent import ReActAgent
from agentscope.formatter import OpenAIChatFormatter
from agentscope.memory import MemoryBase
from agentscope.message import Msg
from agentscope.model import ChatModelBase
from agentscope.pipeline import stream_printing_messages
from agentscope.tool import Toolkit
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from memmark.agentscope import AsyncSQLAlchemyMemory, InMemoryMemory, RedisMemory
from memmark.agentscope.testing import ScriptedChatModel, get_weather

BACKEND = os.environ.get("MEMMARK_BACKEND", "sql")
DATABASE_URL = os.environ.get("MEMMARK_DATABASE_URL", "sqlite+aiosqlite:///./test_memory.db")
REDIS_URL = os.environ.get("MEMMARK_REDIS_URL", "redis://127.0.0.1:6379/15")
TABLE_PREFIX = os.environ.get("MEMMARK_TABLE_PREFIX", "memmark_")
KEY_PREFIX = os.environ.get("MEMMARK_KEY_PREFIX", "")

# One pooled engine per process; a session per request comes from it.
engine = create_async_engine(DATABASE_URL, pool_size=10, max_overflow=20, pool_timeout=30)
async_session_maker = async_sessionmaker(
    engine, expire_on_commit=False, autocommit=False, autoflush=False
)
state: dict[str, Any] = {"redis_pool": None, "in_process": {}}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    if BACKEND == "redis":
        from redis.asyncio import ConnectionPool

        state["redis_pool"] = ConnectionPool.from_url(
            REDIS_URL, decode_responses=True, max_connections=10
        )
    yield
    if state["redis_pool"] is not None:
        await state["redis_pool"].disconnect()
    await engine.dispose()  # the app owns the engine; memories never close it


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


def make_model() -> ChatModelBase:
    """A real OpenAI model when a key is set; the scripted one otherwise."""
    if os.environ.get("OPENAI_API_KEY"):
        from agentscope.model import OpenAIChatModel

        return OpenAIChatModel(model_name=os.environ.get("MEMMARK_MODEL", "gpt-4o-mini"))
    return ScriptedChatModel()


def make_memory(user_id: str, session_id: str, db_session: AsyncSession) -> MemoryBase:
    """The memory of this request's conversation on the configured backend."""
    if BACKEND == "redis":
        return RedisMemory(
            connection_pool=state["redis_pool"],
            user_id=user_id,
            session_id=session_id,
            key_prefix=KEY_PREFIX,
        )
    if BACKEND == "in-memory":
        memories: dict[tuple[str, str], InMemoryMemory] = state["in_process"]
        return memories.setdefault((user_id, session_id), InMemoryMemory())
    return AsyncSQLAlchemyMemory(
        engine_or_session=db_session,
        user_id=user_id,
        session_id=session_id,
        table_prefix=TABLE_PREFIX,
    )


@app.post("/chat")
async def chat_endpoint(
    user_id: str,
    session_id: str,
    input: str,
    db_session: AsyncSession = Depends(get_db),  # noqa: B008  # FastAPI's idiom
) -> list[dict[str, Any]]:
    """Run one agent turn; return the messages the agent printed, tool calls included."""
    toolkit = Toolkit()
    toolkit.register_tool_function(get_weather)
    memory = make_memory(user_id, session_id, db_session)
    agent = ReActAgent(
        name="Friday",
        sys_prompt="You are a helpful assistant. Use your tools.",
        model=make_model(),
        formatter=OpenAIChatFormatter(),
        toolkit=toolkit,
        memory=memory,
    )
    agent.set_console_output_enabled(False)
    printed: dict[str, dict[str, Any]] = {}
    async for msg, _ in stream_printing_messages(
        agents=[agent], coroutine_task=agent(Msg("user", input, "user"))
    ):
        printed[msg.id] = msg.to_dict()  # chunks of one message share its id
    if isinstance(memory, RedisMemory):
        await memory.close()  # the client made over the shared pool; the pool stays
    return list(printed.values())
