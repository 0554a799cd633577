"""Backends and agents for the memmark.agentscope tests.

``store`` is a fixture parametrised over every backend: in-process, SQLite,
PostgreSQL, MariaDB and Redis. It makes memories of ``memmark.agentscope``
on one store (unique table or key prefix, dropped at the end), and the
plain memmark backend of the same session, to check the storage format.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from agentscope.agent import ReActAgent
from agentscope.formatter import OpenAIChatFormatter
from agentscope.memory import MemoryBase as AgentScopeMemoryBase
from agentscope.tool import Toolkit
from redis_support import drop_prefix
from redis_support import unique_prefix as unique_key_prefix
from servers import REDIS_URL, require_server
from sql_support import backend_marks, drop_tables, make_engine, unique_prefix
from sqlalchemy.ext.asyncio import AsyncEngine

import memmark.redis
import memmark.sql
from memmark.agentscope import AsyncSQLAlchemyMemory, InMemoryMemory, MemmarkMemory, RedisMemory
from memmark.agentscope.testing import ScriptedChatModel, get_weather
from memmark.core import MemoryBase

BACKENDS = ("in-process", "sqlite", "postgres", "mariadb", "redis")
STORES = BACKENDS[1:]  # the backends whose sessions outlive a memory object


@dataclass
class Store:
    """One backend's store for a test, and how to make memories on it.

    Attributes:
        backend: The backend's name in ``BACKENDS``.
        engine: The SQL engine (SQL backends).
        pool: A decoding Redis connection pool (Redis).
        table_prefix: The test's own SQL table prefix.
        key_prefix: The test's own Redis key prefix.
    """

    backend: str
    engine: AsyncEngine | None = None
    pool: aioredis.ConnectionPool | None = None
    table_prefix: str = ""
    key_prefix: str = ""
    made: list[MemmarkMemory[Any]] = field(default_factory=list)

    @property
    def persistent(self) -> bool:
        """Whether a new memory object of a session sees what an earlier one wrote."""
        return self.backend != "in-process"

    def memory(self, user_id: str = "u", session_id: str = "s") -> MemmarkMemory[Any]:
        """A ``memmark.agentscope`` memory of ``(user_id, session_id)``."""
        memory: MemmarkMemory[Any]
        if self.backend == "in-process":
            memory = InMemoryMemory()
        elif self.backend == "redis":
            memory = RedisMemory(
                session_id=session_id,
                user_id=user_id,
                connection_pool=self.pool,
                key_prefix=self.key_prefix,
            )
        else:
            assert self.engine is not None
            memory = AsyncSQLAlchemyMemory(
                self.engine, session_id=session_id, user_id=user_id, table_prefix=self.table_prefix
            )
        self.made.append(memory)
        return memory

    def plain(self, user_id: str = "u", session_id: str = "s") -> MemoryBase:
        """The plain memmark backend of the same session (not in process)."""
        if self.backend == "redis":
            return memmark.redis.RedisMemory(
                session_id=session_id,
                user_id=user_id,
                connection_pool=self.pool,
                key_prefix=self.key_prefix,
            )
        assert self.engine is not None
        return memmark.sql.AsyncSQLAlchemyMemory(
            self.engine, session_id=session_id, user_id=user_id, table_prefix=self.table_prefix
        )


@contextlib.asynccontextmanager
async def open_store(backend: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A ``Store`` on ``backend`` whose tables or keys are dropped at the end."""
    if backend == "in-process":
        yield Store(backend)
        return
    if backend == "redis":
        url = require_server("Redis", REDIS_URL)
        pool = aioredis.ConnectionPool.from_url(url, decode_responses=True)
        store = Store(backend, pool=pool, key_prefix=unique_key_prefix())
        try:
            yield store
        finally:
            for memory in store.made:
                await memory.close()
            client = aioredis.Redis(connection_pool=pool)
            await drop_prefix(client, store.key_prefix)
            await client.aclose()
            await pool.disconnect()
        return
    engine = make_engine(backend, tmp_path)
    store = Store(backend, engine=engine, table_prefix=unique_prefix())
    try:
        yield store
    finally:
        for memory in store.made:
            await memory.close()
        try:
            await drop_tables(engine, store.table_prefix)
        finally:
            await engine.dispose()


def server_marks(backend: str) -> list[pytest.MarkDecorator]:
    """The server marker of ``backend``."""
    if backend == "redis":
        return [pytest.mark.redis]
    return backend_marks(backend)


def backend_params(backends: tuple[str, ...] = BACKENDS) -> list[Any]:
    """``pytest.param`` per backend, with its server marker."""
    return [pytest.param(b, id=b, marks=server_marks(b)) for b in backends]


@pytest.fixture(params=backend_params())
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A store on each backend."""
    async with open_store(str(request.param), tmp_path) as opened:
        yield opened


@pytest.fixture(params=backend_params(STORES))
async def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A store on each backend whose sessions outlive a memory object."""
    async with open_store(str(request.param), tmp_path) as opened:
        yield opened


def make_agent(
    memory: AgentScopeMemoryBase,
    model: ScriptedChatModel | None = None,
    **kwargs: Any,
) -> ReActAgent:
    """A ``ReActAgent`` with the scripted model, a real formatter and one tool."""
    toolkit = Toolkit()
    toolkit.register_tool_function(get_weather)
    agent = ReActAgent(
        name="Friday",
        sys_prompt="You are a helpful assistant.",
        model=model or ScriptedChatModel(),
        formatter=OpenAIChatFormatter(),
        toolkit=toolkit,
        memory=memory,
        **kwargs,
    )
    agent.set_console_output_enabled(False)
    return agent


def unique_id() -> str:
    """An id no other test uses."""
    return uuid.uuid4().hex


def texts(prompt: Any) -> str:
    """Every string of a prompt, one per line, to search for what the model was shown."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, dict):
        return "\n".join(texts(value) for value in prompt.values())
    if isinstance(prompt, list):
        return "\n".join(texts(value) for value in prompt)
    return ""


Factory = Callable[..., MemmarkMemory[Any]]
