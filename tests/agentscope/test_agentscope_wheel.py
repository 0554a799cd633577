"""memmark-agentscope[redis] from built wheels, in a clean virtual environment, runs an agent."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.backends import key_prefix, server_url

ROOT = Path(__file__).resolve().parents[2]

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
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    dist = tmp_path / "dist"
    for package in ("memmark-core", "memmark-redis", "memmark-agentscope"):
        subprocess.run(
            [uv, "build", "--package", package, "--wheel", "-o", str(dist)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    # The memmark wheels come from dist/, everything else from the package index.
    install = [str(python), "-m", "pip", "install", "-q", "--find-links", str(dist)]
    subprocess.run(
        [*install, "memmark-agentscope[redis]", *AGENTSCOPE],
        check=True,
        capture_output=True,
        timeout=300,
    )
    run = subprocess.run(
        [str(python), "-c", SCRIPT, redis_url, key_prefix()],
        cwd=tmp_path,  # away from the workspace, so only the wheels can be imported
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.stdout.strip().startswith(str(venv)), run.stdout
