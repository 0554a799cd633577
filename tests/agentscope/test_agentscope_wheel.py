"""memmark-agentscope[redis] from built wheels, in a clean virtual environment, runs an agent."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.backends import key_prefix, server_url
from tests.installs import build, clean_venv, install, run

# What AgentScope 1.0.21 needs to import today, beyond its own requirements
# (the same as in the workspace's dev group).
AGENTSCOPE = ["agentscope==1.0.21", "mcp==1.25.0", "pydantic<2.13", "tqdm", "greenlet"]

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from agentscope.agent import ReActAgent
    from agentscope.formatter import OpenAIChatFormatter
    from agentscope.message import Msg
    from agentscope.tool import Toolkit
    import memmark.agentscope
    from memmark.agentscope import RedisMemory
    from memmark.agentscope.testing import ScriptedChatModel, get_weather

    async def main(url, prefix):
        toolkit = Toolkit()
        toolkit.register_tool_function(get_weather)
        async with RedisMemory(url=url, key_prefix=prefix, user_id="wheel") as memory:
            agent = ReActAgent(
                name="Friday", sys_prompt="Help.", model=ScriptedChatModel(),
                formatter=OpenAIChatFormatter(), toolkit=toolkit, memory=memory,
            )
            agent.set_console_output_enabled(False)
            reply = await agent(Msg("user", "Paris", "user"))
            assert reply.get_text_content().endswith("in Paris."), reply
            assert await memory.size() == 4
            await memory.clear()
        print(memmark.agentscope.__file__)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


@pytest.mark.redis
def test_the_redis_extra_installs_from_wheels_and_runs_an_agent_turn(tmp_path: Path) -> None:
    redis_url = server_url("redis")
    dist = tmp_path / "dist"
    build(dist, "memmark-core", "memmark-redis", "memmark-agentscope")
    venv = tmp_path / "venv"
    python = clean_venv(venv)
    # The memmark wheels come from dist/, everything else from the package index.
    install(python, "memmark-agentscope[redis]", *AGENTSCOPE, find_links=dist)
    # Away from the workspace, so only the wheels can be imported.
    ran = run(python, "-c", SCRIPT, redis_url, key_prefix(), cwd=tmp_path, timeout=120)
    assert ran.stdout.strip().startswith(str(venv)), ran.stdout
