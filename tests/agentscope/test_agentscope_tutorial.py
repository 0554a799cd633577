"""The AgentScope memory tutorial's code, with only its imports changed to memmark.agentscope.

The code below is the tutorial's, line for line, except: the import of the
memory classes; the lines the tutorial leaves as ``...`` (the agent's model,
formatter and tool, and what the endpoint returns), filled in and marked
``# filled in``; and the server addresses, which point at the test servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.backends import id_params, server_url

IMPORTS = """
import asyncio
import json
import fakeredis
from sqlalchemy.ext.asyncio import create_async_engine
from memmark.agentscope import (
    InMemoryMemory,
    AsyncSQLAlchemyMemory,
    RedisMemory,
)
from agentscope.message import Msg
"""

WALKTHROUGH = '''
async def in_memory_example():
    """An example of using InMemoryMemory to store messages in memory."""
    memory = InMemoryMemory()
    await memory.add(
        Msg("Alice", "Generate a report about AgentScope", "user"),
    )
    # Add a hint message with the mark "hint"
    await memory.add(
        [
            Msg(
                "system",
                "<system-hint>Create a plan first to collect information and "
                "generate the report step by step.</system-hint>",
                "system",
            ),
        ],
        marks="hint",
    )
    msgs = await memory.get_memory(mark="hint")
    print("The messages with mark 'hint':")
    for msg in msgs:
        print(f"- {msg}")
    # All the stored messages can be exported and loaded via ``state_dict`` and ``load_state_dict`` methods.
    state = memory.state_dict()
    print("The state dict of the memory:")
    print(json.dumps(state, indent=2))
    # delete messages by mark
    deleted_count = await memory.delete_by_mark("hint")
    print(f"Deleted {deleted_count} messages with mark 'hint'.")
    print("The state dict of the memory after deletion:")
    state = memory.state_dict()
    print(json.dumps(state, indent=2))
asyncio.run(in_memory_example())

async def sqlalchemy_example() -> None:
    """An example of using AsyncSQLAlchemyMemory to store messages in a SQLite database."""
    # Create an async SQLAlchemy engine first
    engine = create_async_engine("sqlite+aiosqlite:///./test_memory.db")
    # Then create the memory with the engine
    memory = AsyncSQLAlchemyMemory(
        engine_or_session=engine,
        # Optionally specify user_id and session_id
        user_id="user_1",
        session_id="session_1",
    )
    await memory.add(
        Msg("Alice", "Generate a report about AgentScope", "user"),
    )
    await memory.add(
        [
            Msg(
                "system",
                "<system-hint>Create a plan first to collect information and "
                "generate the report step by step.</system-hint>",
                "system",
            ),
        ],
        marks="hint",
    )
    msgs = await memory.get_memory(mark="hint")
    print("The messages with mark 'hint':")
    for msg in msgs:
        print(f"- {msg}")
    # Close the engine when done
    await memory.close()
asyncio.run(sqlalchemy_example())

async def sqlalchemy_context_example() -> None:
    """Example of using AsyncSQLAlchemyMemory as an async context manager."""
    engine = create_async_engine("sqlite+aiosqlite:///./test_memory.db")
    async with AsyncSQLAlchemyMemory(
        engine_or_session=engine,
        user_id="user_1",
        session_id="session_1",
    ) as memory:
        await memory.add(
            Msg("Alice", "Generate a report about AgentScope", "user"),
        )
        msgs = await memory.get_memory()
        print("All messages in the memory:")
        for msg in msgs:
            print(f"- {msg}")
asyncio.run(sqlalchemy_context_example())

async def redis_memory_example() -> None:
    """An example of using RedisMemory to store messages in Redis."""
    # Use fakeredis for in-memory testing without a real Redis server
    fake_redis = fakeredis.aioredis.FakeRedis(decode_responses=True)
    # Create the Redis memory
    memory = RedisMemory(
        # Using fake redis for demonstration
        connection_pool=fake_redis.connection_pool,
        # You can also connect to a real Redis server by specifying host and port
        # host="localhost",
        # port=6379,
        # Optionally specify user_id and session_id
        user_id="user_1",
        session_id="session_1",
    )
    # Add a message to the memory
    await memory.add(
        Msg(
            "Alice",
            "Generate a report about AgentScope",
            "user",
        ),
    )
    # Add a hint message with the mark "hint"
    await memory.add(
        Msg(
            "system",
            "<system-hint>Create a plan first to collect information and "
            "generate the report step by step.</system-hint>",
            "system",
        ),
        marks="hint",
    )
    # Retrieve messages with the mark "hint"
    msgs = await memory.get_memory(mark="hint")
    print("The messages with mark 'hint':")
    for msg in msgs:
        print(f"- {msg}")
asyncio.run(redis_memory_example())
'''

SETUP = """
from agentscope.formatter import OpenAIChatFormatter  # filled in
from agentscope.tool import Toolkit  # filled in
from memmark.agentscope.testing import ScriptedChatModel, get_weather  # filled in


def agent_setup():  # filled in: what the tutorial leaves as "..."
    toolkit = Toolkit()
    toolkit.register_tool_function(get_weather)
    return dict(
        name="Friday",
        sys_prompt="You are a helpful assistant.",
        model=ScriptedChatModel(),
        formatter=OpenAIChatFormatter(),
        toolkit=toolkit,
    )
"""

SQL_APP = """
from typing import AsyncGenerator
from fastapi import FastAPI, Depends
from sqlalchemy.ext.asyncio import create_async_engine, async_sessionmaker, AsyncSession
from agentscope.agent import ReActAgent
from agentscope.pipeline import stream_printing_messages
app = FastAPI()
# Create an async SQLAlchemy engine with connection pooling
engine = create_async_engine(
    "sqlite+aiosqlite:///./test_memory.db",
    pool_size=10,
    max_overflow=20,
    pool_timeout=30,
    # ... The other pool settings
)
# Create a session maker
async_session_marker = async_sessionmaker(
    engine,
    expire_on_commit=False,
    autocommit=False,
    autoflush=False,
)
async def get_db() -> AsyncGenerator[AsyncSession, None]:
    async with async_session_marker() as session:
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
    db_session: AsyncSession = Depends(get_db),
):
    # Some setup for the agent
    setup = agent_setup()  # filled in
    # Create the agent with the SQLAlchemy memory
    agent = ReActAgent(
        # ...
        **setup,  # filled in
        memory=AsyncSQLAlchemyMemory(
            engine_or_session=db_session,
            user_id=user_id,
            session_id=session_id,
        ),
    )
    replies = []  # filled in
    # Handle the chat with the agent
    async for msg, _ in stream_printing_messages(
        agents=[agent],
        coroutine_task=agent(Msg("user", input, "user")),
    ):
        # yield msg to the client
        replies.append(msg.to_dict())  # filled in
    return replies  # filled in
"""

REDIS_APP = '''
from fastapi import FastAPI, HTTPException
from redis.asyncio import ConnectionPool
from contextlib import asynccontextmanager
from agentscope.agent import ReActAgent  # filled in: the SQL part imported it
from agentscope.pipeline import stream_printing_messages  # filled in, likewise
# Global Redis connection pool
redis_pool: ConnectionPool | None = None
# Use the lifespan event to manage the Redis connection pool
@asynccontextmanager
async def lifespan(app: FastAPI):
    global redis_pool
    redis_pool = ConnectionPool(
        host="localhost",
        port=6379,
        db=0,
        password=None,
        decode_responses=True,
        max_connections=10,
        encoding="utf-8",
    )
    print("✅ Redis connection established")
    yield
    await redis_pool.disconnect()
    print("✅ Redis connection closed")
app = FastAPI(lifespan=lifespan)
@app.post("/chat_endpoint")
async def chat_endpoint(
    user_id: str, session_id: str, input: str
):  # ✅ 直接使用BaseModel
    """A chat endpoint"""
    global redis_pool
    if redis_pool is None:
        raise HTTPException(
            status_code=500,
            detail="Redis connection pool is not initialized.",
        )
    # Create the Redis memory
    memory = RedisMemory(
        connection_pool=redis_pool,
        user_id=user_id,
        session_id=session_id,
    )
    agent = ReActAgent(**agent_setup(), memory=memory)  # filled in: the "..."
    replies = []  # filled in
    async for msg, _ in stream_printing_messages(  # filled in
        agents=[agent], coroutine_task=agent(Msg("user", input, "user"))
    ):
        replies.append(msg.to_dict())  # filled in
    # Close the Redis client connection when done
    client = memory.get_client()
    await client.aclose()
    return replies  # filled in
'''


def run_code(code: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    namespace = {} if namespace is None else namespace
    exec(compile(code, "<tutorial>", "exec"), namespace)
    return namespace


def test_the_walkthrough_runs_and_prints_the_tutorials_shapes(tmp_path: Path) -> None:
    # A process of its own, as the tutorial is a script; in tmp_path, for its ./test_memory.db.
    out = subprocess.run(
        [sys.executable, "-c", IMPORTS + WALKTHROUGH],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=120,
    ).stdout
    assert out.count("The messages with mark 'hint':") == 3
    assert "Deleted 1 messages with mark 'hint'." in out
    assert '"content": "Generate a report about AgentScope"' in out
    assert out.count("- Msg(id='") == 6  # 3 hint reads, and 3 messages in the context read
    assert "invocation_id='None')" in out


@contextlib.asynccontextmanager
async def fresh_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of a database of its own, so the tutorial's default table names are safe."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test_memory.db'}"
        return
    server = server_url(backend)
    name = f"tutorial_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield str(sa.make_url(server).set(database=name))
    finally:
        async with admin.connect() as conn:
            drop = f"DROP DATABASE {name}" + (" WITH (FORCE)" if backend == "postgres" else "")
            await conn.execute(sa.text(drop))
        await admin.dispose()


async def drive(app: Any, path: str) -> dict[str, list[dict[str, Any]]]:
    """Three requests: alice, bob on the same session id, alice again."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for user, city in (("alice", "Paris"), ("bob", "Rome"), ("alice", "Oslo")):
                params = {"user_id": user, "session_id": "s1", "input": city}
                response = await client.post(path, params=params)
                assert response.status_code == 200, response.text
                out[f"{user}:{city}"] = response.json()
    return out


def check_replies(out: dict[str, list[dict[str, Any]]]) -> None:
    for key, printed in out.items():
        city = key.split(":")[1]
        answer = {m["id"]: m for m in printed}
        texts = [
            b.get("text") for m in answer.values() for b in m["content"] if b["type"] == "text"
        ]
        assert f"Here is what I found: Sunny, 21 °C in {city}." in texts
        assert any(b["type"] == "tool_use" for m in answer.values() for b in m["content"])


@pytest.mark.parametrize("backend", id_params("sqlite", "postgres", "mariadb"))
async def test_the_sql_fastapi_code_runs_a_conversation_with_tool_calls(
    backend: str, tmp_path: Path
) -> None:
    async with fresh_database(backend, tmp_path) as url:
        code = SQL_APP.replace('"sqlite+aiosqlite:///./test_memory.db"', repr(url))
        namespace = run_code(IMPORTS + SETUP + code)
        try:
            check_replies(await drive(namespace["app"], "/chat"))
            engine = namespace["engine"]
            alice = namespace["AsyncSQLAlchemyMemory"](engine, "s1", "alice")
            history = [m.get_text_content() for m in await alice.get_memory()]
            assert "Rome" not in history
            assert [h for h in history if h in ("Paris", "Oslo")] == ["Paris", "Oslo"]
            assert len(history) == 8
        finally:
            await namespace["engine"].dispose()


@pytest.mark.redis
async def test_the_redis_fastapi_code_runs_a_conversation_with_tool_calls() -> None:
    url = urlsplit(server_url("redis"))
    code = REDIS_APP.replace('host="localhost"', f"host={url.hostname!r}")
    code = code.replace("port=6379", f"port={url.port}").replace("db=0", f"db={url.path[1:] or 0}")
    namespace = run_code(IMPORTS + SETUP + code)
    # the tutorial's endpoint uses the default key prefix: keep this test's users apart
    suffix = uuid.uuid4().hex
    out = await drive_redis(namespace, suffix)
    check_replies(out)


async def drive_redis(namespace: dict[str, Any], suffix: str) -> dict[str, list[dict[str, Any]]]:
    app = namespace["app"]
    out: dict[str, list[dict[str, Any]]] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for user, city in (("alice", "Paris"), ("bob", "Rome"), ("alice", "Oslo")):
                params = {"user_id": f"{user}-{suffix}", "session_id": "s1", "input": city}
                response = await client.post("/chat_endpoint", params=params)
                assert response.status_code == 200, response.text
                out[f"{user}:{city}"] = response.json()
        memory = namespace["RedisMemory"](
            connection_pool=namespace["redis_pool"], user_id=f"alice-{suffix}", session_id="s1"
        )
        try:
            history = [m.get_text_content() for m in await memory.get_memory()]
            assert [h for h in history if h in ("Paris", "Rome", "Oslo")] == ["Paris", "Oslo"]
            assert len(history) == 8
            for user in ("alice", "bob"):
                memory = namespace["RedisMemory"](
                    connection_pool=namespace["redis_pool"],
                    user_id=f"{user}-{suffix}",
                    session_id="s1",
                )
                await memory.clear()
                await memory.close()
        finally:
            await memory.close()
    await asyncio.sleep(0)
    return out
