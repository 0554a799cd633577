"""Stores and agents for the memmark.agentscope tests, on the rows of the backend table.

A :class:`Store` makes ``memmark.agentscope`` memories on one backend (its
own table or key prefix, dropped at the end), and the plain memmark backend
of the same session, to check that both read one storage format. The
``store`` and ``shared_store`` fixtures (``conftest.py``) open one per row.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agentscope.agent import ReActAgent
from agentscope.formatter import OpenAIChatFormatter
from agentscope.memory import MemoryBase as AgentScopeMemoryBase
from agentscope.tool import Toolkit

from memmark.agentscope import AsyncSQLAlchemyMemory, InMemoryMemory, MemmarkMemory, RedisMemory
from memmark.agentscope.testing import ScriptedChatModel, get_weather
from memmark.core import MemoryBase
from tests.backends import (
    BACKENDS,
    Backend,
    drop_keys,
    drop_tables,
    key_prefix,
    params,
    redis_client,
    sql_engine,
    table_prefix,
)

STORE_IDS = tuple(b.id for b in BACKENDS if b.kind != "in-memory")
"""The backends whose sessions outlive a memory object."""


def store_params() -> list[Any]:
    """A ``pytest.param`` per row of the table."""
    return params()


def shared_store_params() -> list[Any]:
    """A ``pytest.param`` per row whose sessions outlive a memory object."""
    return params(*STORE_IDS)


@dataclass
class Store:
    """One backend's store for a test, and how to make memories on it.

    Attributes:
        backend: The resolved row of the backend table.
        engine: The SQL engine (SQL rows).
        client: A Redis client that decodes responses (Redis rows); memories
            share its connection pool, as the tutorial's FastAPI code does
            (the cluster client, which has no single pool, is shared itself).
        table_prefix: The test's own SQL table prefix.
        key_prefix: The test's own Redis key prefix.
    """

    backend: Backend
    engine: Any = None
    client: Any = None
    table_prefix: str = ""
    key_prefix: str = ""
    made: list[MemmarkMemory[Any] | MemoryBase] = field(default_factory=list)

    @property
    def persistent(self) -> bool:
        """Whether a new memory object of a session sees what an earlier one wrote."""
        return self.backend.kind != "in-memory"

    def _redis_source(self) -> dict[str, Any]:
        pool = getattr(self.client, "connection_pool", None)
        return {"client": self.client} if pool is None else {"connection_pool": pool}

    def memory(self, user_id: str = "u", session_id: str = "s") -> MemmarkMemory[Any]:
        """A ``memmark.agentscope`` memory of ``(user_id, session_id)``."""
        memory: MemmarkMemory[Any]
        if self.backend.kind == "in-memory":
            memory = InMemoryMemory()
        elif self.backend.kind == "redis":
            memory = RedisMemory(
                session_id=session_id,
                user_id=user_id,
                key_prefix=self.key_prefix,
                **self._redis_source(),
            )
        else:
            memory = AsyncSQLAlchemyMemory(
                self.engine, session_id=session_id, user_id=user_id, table_prefix=self.table_prefix
            )
        self.made.append(memory)
        return memory

    def plain(self, user_id: str = "u", session_id: str = "s") -> MemoryBase:
        """The plain memmark backend of the same session (not in process)."""
        memory: MemoryBase
        if self.backend.kind == "redis":
            import memmark.redis

            memory = memmark.redis.RedisMemory(
                session_id=session_id,
                user_id=user_id,
                key_prefix=self.key_prefix,
                **self._redis_source(),
            )
        else:
            import memmark.sql

            memory = memmark.sql.AsyncSQLAlchemyMemory(
                self.engine, session_id=session_id, user_id=user_id, table_prefix=self.table_prefix
            )
        self.made.append(memory)
        return memory


@contextlib.asynccontextmanager
async def open_store(backend: Backend) -> AsyncIterator[Store]:
    """A :class:`Store` on ``backend`` (a resolved row) whose tables or keys go at the end."""
    if backend.kind == "in-memory":
        yield Store(backend)
        return
    if backend.kind == "redis":
        client = redis_client(backend.url, decode_responses=True)
        store = Store(backend, client=client, key_prefix=key_prefix())
    else:
        store = Store(backend, engine=sql_engine(backend.url), table_prefix=table_prefix())
    try:
        yield store
    finally:
        for memory in store.made:
            await memory.close()
        if backend.kind == "redis":
            try:
                await drop_keys(store.client, store.key_prefix)
            finally:
                await store.client.aclose()
        else:
            try:
                await drop_tables(store.engine, store.table_prefix)
            finally:
                await store.engine.dispose()


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
