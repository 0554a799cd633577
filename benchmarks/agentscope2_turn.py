"""One AgentScope 2.x turn persisted: MemmarkMiddleware vs AgentScope's own app storage.

Run it in the AgentScope 2.x environment (``.ci/agentscope2.sh`` makes it)::

    .venv-agentscope2/bin/python -m benchmarks.agentscope2_turn --messages 200 --turns 30

A session holds ``--messages`` agent-shaped messages (a user question, then
a reply holding a tool call, its result and the answer). A turn, as a server
serves one request with a new agent, is:

* memmark: ``MemmarkMiddleware.on_reply`` around a reply that adds the
  user's message and a reply message: the session read at its start
  (version, state slot, the context's page) and what changed written as one
  batch at its end;
* AgentScope: its chat service's storage calls: ``get_session`` to load the
  ``AgentState``, then ``update_session_state`` with the whole state (which
  reads the record again and writes it whole), on its ``RedisStorage`` and
  ``AsyncSQLAlchemyStorage``.

Both on the same servers: Redis (database 15), PostgreSQL (memmark in tables
of a fresh prefix, AgentScope in a fresh schema; both dropped after) and a
SQLite file. The figures are the median and 90th percentile per turn, in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agentscope.message import Msg, TextBlock, ToolCallBlock, ToolResultBlock, UserMsg
from agentscope.state import AgentState

from memmark.agentscope.v2 import MemmarkMiddleware
from memmark.core import connect
from memmark.core.urls import close_shared

REDIS = "redis://127.0.0.1:6379/15"
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
FILLER = "The forecast mentions wind from the west and light rain by evening. " * 3


def exchange(index: int) -> list[Msg]:
    """A user question and the agent's reply (a tool call, its result, the answer)."""
    call_id = f"call_{uuid.uuid4().hex[:12]}"
    question = UserMsg("user", f"Weather in city {index}? {FILLER}")
    reply = Msg(
        name="Friday",
        role="assistant",
        content=[
            ToolCallBlock(id=call_id, name="get_weather", input=f'{{"city": "city {index}"}}'),
            ToolResultBlock(
                id=call_id, name="get_weather", output=f"Sunny in city {index}. {FILLER}"
            ),
            TextBlock(text=f"It is sunny in city {index}. {FILLER}"),
        ],
    )
    return [question, reply]


def session_state(messages: int, session_id: str) -> AgentState:
    """An agent state whose context holds ``messages`` messages."""
    context = [m for i in range(messages // 2) for m in exchange(i)]
    return AgentState(session_id=session_id, context=context)


Turn = Callable[[int], Awaitable[None]]


async def memmark_turns(url: str, messages: int, **options: Any) -> AsyncIterator[Turn]:
    """Turns through the middleware, each with a new stand-in agent; the store seeded first."""
    session_id = f"bench-{uuid.uuid4().hex[:8]}"
    middleware = MemmarkMiddleware(url, user_id="bench", session_id=session_id, **options)

    async def reply(agent: Any, index: int) -> None:
        async def handler(**_: Any) -> AsyncIterator[Any]:
            agent.state.context.extend(exchange(index))
            yield agent.state.context[-1]

        async for _ in middleware.on_reply(agent, {}, handler):
            pass

    # The first turn writes the whole session (the agent starts with it).
    await reply(SimpleNamespace(state=session_state(messages, session_id)), -1)

    async def turn(index: int) -> None:
        await reply(SimpleNamespace(state=AgentState()), index)

    try:
        yield turn
    finally:
        memory = connect(url, user_id="bench", session_id=session_id, **options)
        await memory.delete_session()
        await memory.close()
        await close_shared()


async def agentscope_turns(storage: Any, messages: int) -> AsyncIterator[Turn]:
    """Turns through AgentScope's storage: load the state, add the exchange, write the state."""
    from agentscope.app.storage._model import SessionConfig

    record = await storage.upsert_session(
        "bench", "agent", SessionConfig(workspace_id="w"), state=session_state(messages, "x")
    )

    async def turn(index: int) -> None:
        loaded = await storage.get_session("bench", "agent", record.id)
        state = loaded.state
        state.context.extend(exchange(index))
        await storage.update_session_state("bench", "agent", record.id, state)

    try:
        yield turn
    finally:
        await storage.delete_session("bench", "agent", record.id)


async def measure(turns: AsyncIterator[Turn], count: int) -> list[float]:
    """Run ``count`` turns (after two unmeasured ones) and return each one's ms."""
    turn = await anext(turns)
    times = []
    try:
        for index in range(count + 2):
            start = time.perf_counter()
            await turn(index)
            if index >= 2:
                times.append((time.perf_counter() - start) * 1000)
    finally:
        await turns.aclose()
    return times


async def run(messages: int, count: int) -> list[tuple[str, str, list[float]]]:
    """Measure every pair; return (backend, implementation, times) rows."""
    from agentscope.app.storage import AsyncSQLAlchemyStorage, RedisStorage
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    rows = []
    prefix = f"b{uuid.uuid4().hex[:10]}_"
    rows.append(
        (
            "Redis",
            "memmark",
            await measure(memmark_turns(REDIS, messages, key_prefix=prefix), count),
        )
    )
    async with RedisStorage(db=15) as redis_storage:
        rows.append(
            ("Redis", "AgentScope", await measure(agentscope_turns(redis_storage, messages), count))
        )

    rows.append(
        (
            "PostgreSQL",
            "memmark",
            await measure(memmark_turns(POSTGRES, messages, table_prefix=prefix), count),
        )
    )
    schema = f"as2bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(POSTGRES)
    async with admin.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        engine = create_async_engine(
            POSTGRES, connect_args={"server_settings": {"search_path": schema}}
        )
        async with AsyncSQLAlchemyStorage(POSTGRES, engine=engine) as pg_storage:
            rows.append(
                (
                    "PostgreSQL",
                    "AgentScope",
                    await measure(agentscope_turns(pg_storage, messages), count),
                )
            )
        await engine.dispose()
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()
        await _drop_memmark_tables(POSTGRES, prefix)

    with tempfile.TemporaryDirectory() as folder:
        memmark_url = f"sqlite+aiosqlite:///{Path(folder) / 'memmark.db'}"
        rows.append(
            ("SQLite", "memmark", await measure(memmark_turns(memmark_url, messages), count))
        )
        agentscope_url = f"sqlite+aiosqlite:///{Path(folder) / 'agentscope.db'}"
        async with AsyncSQLAlchemyStorage(agentscope_url) as sqlite_storage:
            rows.append(
                (
                    "SQLite",
                    "AgentScope",
                    await measure(agentscope_turns(sqlite_storage, messages), count),
                )
            )
    return rows


async def _drop_memmark_tables(url: str, prefix: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from memmark.sql import make_metadata

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(make_metadata(prefix).drop_all)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--turns", type=int, default=30)
    args = parser.parse_args()
    rows = asyncio.run(run(args.messages, args.turns))
    print(f"{args.messages} messages in the session, {args.turns} turns; ms per turn")
    print("| backend | implementation | median | p90 |")
    print("|---|---|---:|---:|")
    for backend, implementation, times in rows:
        p90 = statistics.quantiles(times, n=10)[-1]
        print(f"| {backend} | {implementation} | {statistics.median(times):.2f} | {p90:.2f} |")


if __name__ == "__main__":
    main()
