"""examples/agentscope_agent.py and examples/agentscope_fastapi.py, driven on every backend."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.agentscope.stores import unique_id
from tests.backends import (
    drop_keys,
    drop_tables,
    id_params,
    key_prefix,
    redis_client,
    server_url,
    table_prefix,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# The backends the examples know, by their names in the backend table.
EXAMPLE_BACKENDS = ("in-memory", "sqlite", "postgres", "mariadb", "redis")


def backend_url(backend: str, tmp_path: Path) -> str:
    """The URL an example runs ``backend`` on (a new SQLite file; a shared server's)."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'agent.db'}"
    return server_url(backend)


async def clean_up(backend: str, url: str, tables: str, keys: str) -> None:
    if backend == "redis":
        client = redis_client(url)
        await drop_keys(client, keys)
        await client.aclose()
    elif backend != "in-memory":
        engine = create_async_engine(url)
        await drop_tables(engine, tables)
        await engine.dispose()


@pytest.fixture
def agent_example(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    yield load("agentscope_agent")
    sys.modules.pop("example_agentscope_agent", None)


@pytest.mark.parametrize("backend", id_params(*EXAMPLE_BACKENDS))
async def test_the_agent_example_keeps_the_conversation_across_runs(
    agent_example: ModuleType, backend: str, tmp_path: Path
) -> None:
    url = "" if backend == "in-memory" else backend_url(backend, tmp_path)
    agent_example.URLS = {**agent_example.URLS, backend: url}
    agent_example.TABLE_PREFIX, agent_example.KEY_PREFIX = table_prefix(), key_prefix()
    user = unique_id()
    try:
        replies = await agent_example.chat(backend, ["Paris", "Rome"], user_id=user)
        assert [r.get_text_content() for r in replies] == [
            "Here is what I found: Sunny, 21 °C in Paris.",
            "Here is what I found: Sunny, 21 °C in Rome.",
        ]
        # a second run, a new process in real life: a new agent, memory and engine
        model = agent_example.ScriptedChatModel()
        await agent_example.chat(backend, ["Oslo"], user_id=user, model=model)
        seen = str(model.prompts[-1])
        assert ("Rome" in seen) is (backend != "in-memory")
    finally:
        await clean_up(backend, url, agent_example.TABLE_PREFIX, agent_example.KEY_PREFIX)


@pytest.fixture
async def fastapi_example(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[ModuleType]:
    backend = str(request.param)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    tables, keys = table_prefix(), key_prefix()
    monkeypatch.setenv("MEMMARK_TABLE_PREFIX", tables)
    monkeypatch.setenv("MEMMARK_KEY_PREFIX", keys)
    monkeypatch.setenv("MEMMARK_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    url = ""
    if backend == "redis":
        url = backend_url(backend, tmp_path)
        monkeypatch.setenv("MEMMARK_BACKEND", "redis")
        monkeypatch.setenv("MEMMARK_REDIS_URL", url)
    elif backend == "in-memory":
        monkeypatch.setenv("MEMMARK_BACKEND", "in-memory")
    else:
        url = backend_url(backend, tmp_path)
        monkeypatch.setenv("MEMMARK_BACKEND", "sql")
        monkeypatch.setenv("MEMMARK_DATABASE_URL", url)
    module = load("agentscope_fastapi")
    try:
        yield module
    finally:
        sys.modules.pop("example_agentscope_fastapi", None)
        await module.engine.dispose()
        await clean_up(backend, url, tables, keys)


@pytest.mark.parametrize("fastapi_example", id_params(*EXAMPLE_BACKENDS), indirect=True)
async def test_the_fastapi_example_continues_each_users_conversation(
    fastapi_example: ModuleType,
) -> None:
    app = fastapi_example.app
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def chat(user: str, text: str) -> list[dict[str, object]]:
                params = {"user_id": user, "session_id": "same", "input": text}
                response = await client.post("/chat", params=params)
                assert response.status_code == 200, response.text
                return list(response.json())

            first = await chat("alice", "Paris")
            # printed: the tool call, its result, the answer
            assert [m["role"] for m in first] == ["assistant", "system", "assistant"]
            assert first[0]["content"][0]["type"] == "tool_use"  # type: ignore[index]
            await chat("bob", "Rome")
            await chat("alice", "Oslo")
    if fastapi_example.BACKEND == "in-memory":
        memories = fastapi_example.state["in_process"]
        alice = memories[("alice", "same")]
    elif fastapi_example.BACKEND == "redis":
        alice = fastapi_example.RedisMemory(
            url=fastapi_example.REDIS_URL,
            user_id="alice",
            session_id="same",
            key_prefix=fastapi_example.KEY_PREFIX,
        )
    else:
        engine = create_async_engine(fastapi_example.DATABASE_URL)
        alice = fastapi_example.AsyncSQLAlchemyMemory(
            engine, "same", "alice", table_prefix=fastapi_example.TABLE_PREFIX
        )
    try:
        history = [m.get_text_content() or "" for m in await alice.get_memory()]
    finally:
        await alice.close()
        if fastapi_example.BACKEND == "sql":
            await engine.dispose()
    assert [h for h in history if h in ("Paris", "Rome", "Oslo")] == ["Paris", "Oslo"]
    assert len(history) == 8
