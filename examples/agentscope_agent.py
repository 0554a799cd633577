"""A multi-turn AgentScope ReActAgent with a tool, its memory on memmark.

Run it on any backend, with no model key::

    uv run python examples/agentscope_agent.py              # in-memory
    uv run python examples/agentscope_agent.py sqlite       # ./agent_memory.db
    uv run python examples/agentscope_agent.py postgres     # MEMMARK_PG_URL
    uv run python examples/agentscope_agent.py mariadb      # MEMMARK_MYSQL_URL
    uv run python examples/agentscope_agent.py redis        # MEMMARK_REDIS_URL

The agent is AgentScope's own ``ReActAgent`` with its OpenAI formatter and a
``Toolkit``; only the memory is memmark's. The model is a scripted one that
calls the tool, then answers. Set ``OPENAI_API_KEY`` (and optionally
``MEMMARK_MODEL``, default ``gpt-4o-mini``) to talk to a real model instead.
On SQL and Redis the conversation outlives the process: run it twice and the
second run continues the first.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from agentscope.agent import ReActAgent
from agentscope.formatter import OpenAIChatFormatter
from agentscope.message import Msg
from agentscope.model import ChatModelBase
from agentscope.tool import Toolkit

from memmark.agentscope import InMemoryMemory
from memmark.agentscope.testing import ScriptedChatModel, get_weather

URLS = {
    "sqlite": os.environ.get("MEMMARK_SQLITE_URL", "sqlite+aiosqlite:///./agent_memory.db"),
    "postgres": os.environ.get(
        "MEMMARK_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get("MEMMARK_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306/test"),
    "redis": os.environ.get("MEMMARK_REDIS_URL", "redis://127.0.0.1:6379/15"),
}
TABLE_PREFIX = os.environ.get("MEMMARK_TABLE_PREFIX", "memmark_")
KEY_PREFIX = os.environ.get("MEMMARK_KEY_PREFIX", "")


def make_model() -> ChatModelBase:
    """A real OpenAI model when a key is set; the scripted one otherwise."""
    if os.environ.get("OPENAI_API_KEY"):
        from agentscope.model import OpenAIChatModel

        return OpenAIChatModel(model_name=os.environ.get("MEMMARK_MODEL", "gpt-4o-mini"))
    return ScriptedChatModel()


@asynccontextmanager
async def open_memory(backend: str, user_id: str, session_id: str) -> AsyncIterator[Any]:
    """The memory of one conversation on ``backend``; its engine or client closed after."""
    if backend == "in-memory":
        yield InMemoryMemory()
    elif backend == "redis":
        from memmark.agentscope import RedisMemory

        async with RedisMemory(
            url=URLS["redis"], user_id=user_id, session_id=session_id, key_prefix=KEY_PREFIX
        ) as memory:
            yield memory
    else:
        from sqlalchemy.ext.asyncio import create_async_engine

        from memmark.agentscope import AsyncSQLAlchemyMemory

        engine = create_async_engine(URLS[backend])
        try:
            yield AsyncSQLAlchemyMemory(
                engine, user_id=user_id, session_id=session_id, table_prefix=TABLE_PREFIX
            )
        finally:
            await engine.dispose()


async def chat(
    backend: str,
    inputs: list[str],
    user_id: str = "alice",
    session_id: str = "weather",
    model: ChatModelBase | None = None,
) -> list[Msg]:
    """Run one agent over ``inputs``, one turn each; return its replies."""
    toolkit = Toolkit()
    toolkit.register_tool_function(get_weather)
    async with open_memory(backend, user_id, session_id) as memory:
        agent = ReActAgent(
            name="Friday",
            sys_prompt="You are a helpful assistant. Use your tools.",
            model=model or make_model(),
            formatter=OpenAIChatFormatter(),
            toolkit=toolkit,
            memory=memory,
        )
        agent.set_console_output_enabled(False)
        replies = [await agent(Msg("user", text, "user")) for text in inputs]
        print(f"{backend}: {await memory.size()} messages in the session")
    return replies


async def main() -> None:
    backend = sys.argv[1] if len(sys.argv) > 1 else "in-memory"
    for reply in await chat(backend, ["Paris", "Rome", "Oslo"]):
        print(f"Friday: {reply.get_text_content()}")


if __name__ == "__main__":
    asyncio.run(main())
