"""An AgentScope 2.x Agent with a tool, its session kept in memmark by a middleware.

Run it in the AgentScope 2.x environment (``.ci/agentscope2.sh`` makes one
in ``.venv-agentscope2``), on any backend, with no model key::

    .venv-agentscope2/bin/python examples/agentscope2_agent.py            # in process
    .venv-agentscope2/bin/python examples/agentscope2_agent.py sqlite     # ./agent2_memory.db
    .venv-agentscope2/bin/python examples/agentscope2_agent.py postgres   # MEMMARK_PG_URL
    .venv-agentscope2/bin/python examples/agentscope2_agent.py mariadb    # MEMMARK_MYSQL_URL
    .venv-agentscope2/bin/python examples/agentscope2_agent.py redis      # MEMMARK_REDIS_URL

Each turn is served by a new ``Agent``, as a server would make one per
request: ``MemmarkMiddleware`` restores the session into it when its reply
starts and writes what changed, as one batch, when it ends. The model is a
scripted one (it calls the weather tool twice, then answers) and the context is
small, so the third turn compresses it: the compressed messages stay in
memmark, marked ``compressed``. On SQL and Redis the conversation outlives
the process: run it twice and the second run continues the first.
"""

from __future__ import annotations

import asyncio
import os
import sys

from agentscope.agent import Agent, ContextConfig, InjectionConfig
from agentscope.message import UserMsg
from agentscope.tool import Toolkit

from memmark.agentscope.v2 import COMPRESSED, MemmarkMiddleware, read_compressed
from memmark.agentscope.v2.testing import ScriptedChatModel, weather_tool
from memmark.core import connect
from memmark.core.urls import close_shared

URLS = {
    "memory": "memory://",
    "sqlite": os.environ.get("MEMMARK_SQLITE_URL", "sqlite+aiosqlite:///./agent2_memory.db"),
    "postgres": os.environ.get(
        "MEMMARK_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get("MEMMARK_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306/test"),
    "redis": os.environ.get("MEMMARK_REDIS_URL", "redis://127.0.0.1:6379/0"),
}


async def new_agent(url: str, user_id: str, session_id: str, **options: object) -> Agent:
    """Make the agent of one request: a new object every time, the session in memmark."""
    toolkit = Toolkit()
    await toolkit.add_tool(weather_tool())
    return Agent(
        name="Friday",
        system_prompt="You tell the weather.",
        model=ScriptedChatModel(rounds=2, context_size=560),
        toolkit=toolkit,
        middlewares=[MemmarkMiddleware(url, user_id=user_id, session_id=session_id, **options)],
        context_config=ContextConfig(trigger_ratio=0.6, reserve_ratio=0.3),
        injection_config=InjectionConfig(inject_runtime_state=False),
    )


async def main(
    backend: str = "memory",
    user_id: str = "alice",
    session_id: str = "agentscope2-example",
    **options: object,
) -> list[str]:
    """Serve three turns, each with a new agent, then show what memmark holds."""
    url = URLS[backend]
    answers = []
    for city in ("Paris", "Oslo", "Lima"):
        agent = await new_agent(url, user_id, session_id, **options)
        question = f"Weather in {city}? I am planning a long trip and want the details."
        reply = await agent.reply(UserMsg(user_id, question))
        answers.append(reply.get_text_content() or "")
        print(f"> {question}\n{answers[-1]}")
    memory = connect(url, user_id=user_id, session_id=session_id, **options)
    context = await memory.get_page(limit=100, exclude_mark=COMPRESSED)
    compressed = await read_compressed(memory)
    print(
        f"memmark holds {len(context.messages)} messages of the context and "
        f"{len(compressed)} compressed ones, at version {context.version}"
    )
    await memory.close()
    await close_shared()
    return answers


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "memory"))
