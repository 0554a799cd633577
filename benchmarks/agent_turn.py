"""One ReActAgent turn's memory calls: memmark.agentscope against AgentScope's own memories.

A turn is what ``ReActAgent.reply`` asks of its memory for one user input
that the model answers after one tool call: read the context excluding
``compressed``, add the user's message, add and drop a hint, add the tool
call, its result and the answer; every tenth turn also re-marks five
messages ``compressed`` and stores a summary. Marks are passed as AgentScope
passes them, as ``str`` enum members. The session holds ``--messages``
realistic agent messages (text, tool calls with nested input, tool results
with list output, metadata, invocation ids), kept at that size by removing
each turn's messages untimed after it.

Both memories run in one process on the same servers (in process, SQLite
files, ``MEMMARK_PG_URL``, ``MEMMARK_MYSQL_URL``, ``MEMMARK_REDIS_URL``),
turn for turn, alternating which goes first. AgentScope's SQL tables have
fixed names, so its memory gets a database of its own, dropped at the end;
memmark's tables and both sides' Redis keys use unique prefixes, dropped at
the end. The seam columns are the part of memmark's turn spent outside its
backend: converting messages between AgentScope's ``Msg`` and memmark's,
normalising marks, forwarding the calls (the timing wrapper's own cost,
measured first, is left out).

Usage::

    uv run python -m benchmarks.agent_turn [--only in-process,sqlite,postgresql,mariadb,redis]
        [--messages 1000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import sqlalchemy as sa
from agentscope import memory as peer_memory
from agentscope.message import Msg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import memmark.agentscope
import memmark.sql

PG_URL = os.environ.get("MEMMARK_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("MEMMARK_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("MEMMARK_REDIS_URL", "redis://127.0.0.1:6379/15")
PEER_DB = "memmark_agent_turn_peer"
BACKENDS = ("in-process", "sqlite", "postgresql", "mariadb", "redis")


class Mark(str, Enum):
    """The marks as ReActAgent passes them (its own enum is private)."""

    HINT = "hint"
    COMPRESSED = "compressed"


# -- realistic agent messages ------------------------------------------------------


def turn_messages(n: int) -> list[Msg]:
    """The four messages of turn ``n``: user input, tool call, tool result, answer."""
    call_id = f"call_{n}_{uuid.uuid4().hex[:8]}"
    user = Msg("user", f"Turn {n}: what is the weather in city {n % 50}, and what to wear?", "user")
    call = Msg(
        "Friday",
        [
            {"type": "text", "text": "Let me look that up."},
            {
                "type": "tool_use",
                "id": call_id,
                "name": "get_weather",
                "input": {"city": f"city {n % 50}", "options": {"units": "metric", "days": [1, 2]}},
            },
        ],
        "assistant",
        metadata={"usage": {"input_tokens": 900 + n, "output_tokens": 40}},
    )
    call.invocation_id = f"chatcmpl-{uuid.uuid4().hex}"
    result = Msg(
        "system",
        [
            {
                "type": "tool_result",
                "id": call_id,
                "name": "get_weather",
                "output": [{"type": "text", "text": f"Sunny, {n % 30} °C, light wind."}],
            }
        ],
        "system",
    )
    answer = Msg(
        "Friday",
        [{"type": "text", "text": f"It is sunny and {n % 30} °C: a light jacket will do. " * 3}],
        "assistant",
    )
    answer.invocation_id = f"chatcmpl-{uuid.uuid4().hex}"
    return [user, call, result, answer]


def session(messages: int) -> list[Msg]:
    """A session of ``messages`` agent messages, four per past turn."""
    out: list[Msg] = []
    turn = 0
    while len(out) < messages:
        out.extend(turn_messages(turn))
        turn += 1
    return out[:messages]


# -- one turn ------------------------------------------------------------------------


@dataclass
class Side:
    """One memory under test, with the state its turns carry."""

    memory: Any
    turns: int = 0
    added: list[str] = field(default_factory=list)
    to_compress: list[str] = field(default_factory=list)
    pending: list[Msg] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    conversion: list[float] = field(default_factory=list)


def next_turn(side: Side) -> None:
    """Make the messages of the side's next turn (untimed: the agent makes them, not the memory)."""
    side.pending = [*turn_messages(10_000 + side.turns), hint_message()]


def hint_message() -> Msg:
    return Msg("user", "<system-hint>Plan first, then act.</system-hint>", "user")


async def agent_turn(side: Side) -> None:
    """The memory calls of one ReActAgent turn, on the messages ``next_turn`` made."""
    memory = side.memory
    n = side.turns
    side.turns += 1
    user, call, result, answer, hint = side.pending
    await memory.get_memory(exclude_mark=Mark.COMPRESSED)
    await memory.add(user)
    await memory.add(hint, marks=Mark.HINT)
    await memory.delete_by_mark(mark=Mark.HINT)
    await memory.add(call)
    await memory.add(result)
    await memory.add(answer)
    if n % 10 == 9:
        chosen, side.to_compress = side.to_compress[:5], side.to_compress[5:]
        await memory.update_messages_mark(msg_ids=chosen, new_mark=Mark.COMPRESSED)
        await memory.update_compressed_summary(f"<system-info>Summary after turn {n}</system-info>")
    side.added = [user.id, call.id, result.id, answer.id]


class BackendClock:
    """Time memmark's backend spends in the calls of a memmark.agentscope memory.

    The rest of the memory's time is the seam: converting messages between
    AgentScope's ``Msg`` and memmark's, normalising marks, forwarding calls.
    """

    METHODS = (
        "add",
        "delete",
        "delete_by_mark",
        "get_memory",
        "size",
        "update_messages_mark",
        "update_compressed_summary",
    )

    def __init__(self, backend: Any) -> None:
        self.total = 0.0
        self.calls = 0
        self.overhead = 0.0
        for name in self.METHODS:
            setattr(backend, name, self._timed(getattr(backend, name)))

    def _timed(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            start = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - start

        return timed

    async def calibrate(self, rounds: int = 2000) -> None:
        """Measure what the timing wrapper itself adds to a call, to leave it out of the seam."""

        async def nothing() -> None:
            return None

        wrapped = self._timed(nothing)
        plain, timed = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            await nothing()
            plain.append(time.perf_counter() - start)
            start = time.perf_counter()
            await wrapped()
            timed.append(time.perf_counter() - start)
        self.overhead = max(0.0, statistics.median(timed) - statistics.median(plain))
        self.total = 0.0
        self.calls = 0

    def seam(self, elapsed: float) -> float:
        """The part of ``elapsed`` (s) outside the backend and the wrapper, in µs."""
        return (elapsed - self.total - self.calls * self.overhead) * 1e6


async def timed_turn(side: Side, clock: BackendClock | None) -> None:
    next_turn(side)
    if clock is not None:
        clock.total = 0.0
        clock.calls = 0
    start = time.perf_counter()
    await agent_turn(side)
    elapsed = time.perf_counter() - start
    side.times.append(elapsed * 1e6)
    if clock is not None:
        side.conversion.append(clock.seam(elapsed))
    await side.memory.delete(side.added)  # untimed: the session keeps its size


async def compare(peer: Side, ours: Side, messages: int, rounds: int) -> None:
    """Fill both sessions, then time ``rounds`` turns of each, interleaved."""
    for side in (peer, ours):
        msgs = session(messages)
        await side.memory.add(msgs)
        side.to_compress = [m.id for m in msgs]
    clock = BackendClock(ours.memory.backend)
    await clock.calibrate()
    for _ in range(3):  # warm-up, untimed
        await timed_turn(peer, None)
        await timed_turn(ours, clock)
    for side in (peer, ours):
        side.times.clear()
        side.conversion.clear()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection landing on one side only would skew the pair
    try:
        for i in range(rounds):
            first, second = (peer, ours) if i % 2 == 0 else (ours, peer)
            await timed_turn(first, clock if first is ours else None)
            await timed_turn(second, clock if second is ours else None)
            if i % 50 == 49:
                gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()


# -- the memories on each backend ---------------------------------------------------------


@contextlib.asynccontextmanager
async def memories(backend: str, tmp: Path) -> AsyncIterator[tuple[Any, Any]]:
    """Yield (AgentScope's memory, memmark.agentscope's) on ``backend``."""
    user, session_id = f"bench-{uuid.uuid4().hex[:8]}", "agent-turn"
    if backend == "in-process":
        yield peer_memory.InMemoryMemory(), memmark.agentscope.InMemoryMemory()
    elif backend == "redis":
        async with redis_memories(user, session_id) as pair:
            yield pair
    else:
        async with sql_memories(backend, tmp, user, session_id) as pair:
            yield pair


@contextlib.asynccontextmanager
async def redis_memories(user: str, session_id: str) -> AsyncIterator[tuple[Any, Any]]:
    pool = aioredis.ConnectionPool.from_url(REDIS_URL, decode_responses=True)
    peer_prefix, our_prefix = f"bench-peer-{uuid.uuid4().hex}", f"bench-ours-{uuid.uuid4().hex}"
    peer = peer_memory.RedisMemory(
        session_id=session_id, user_id=user, connection_pool=pool, key_prefix=peer_prefix
    )
    ours = memmark.agentscope.RedisMemory(
        session_id=session_id, user_id=user, connection_pool=pool, key_prefix=our_prefix
    )
    try:
        yield peer, ours
    finally:
        client = aioredis.Redis(connection_pool=pool)
        for prefix in (peer_prefix, our_prefix):
            # Benchmark clean-up only; the library itself never scans.
            keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
            for start in range(0, len(keys), 500):
                await client.delete(*keys[start : start + 500])
        await client.aclose()
        await peer.close()
        await ours.close()
        await pool.disconnect()


@contextlib.asynccontextmanager
async def sql_memories(
    backend: str, tmp: Path, user: str, session_id: str
) -> AsyncIterator[tuple[Any, Any]]:
    peer_engine, our_engine, admin = await sql_engines(backend, tmp)
    prefix = f"bench_{uuid.uuid4().hex[:10]}_"
    peer = peer_memory.AsyncSQLAlchemyMemory(peer_engine, session_id=session_id, user_id=user)
    ours = memmark.agentscope.AsyncSQLAlchemyMemory(
        our_engine, session_id=session_id, user_id=user, table_prefix=prefix
    )
    try:
        yield peer, ours
    finally:
        await peer.close()
        await ours.close()
        async with our_engine.begin() as conn:
            await conn.run_sync(memmark.sql.make_metadata(prefix).drop_all)
        await peer_engine.dispose()
        await our_engine.dispose()
        if admin is not None:
            await drop_peer_database(admin)
            await admin.dispose()


async def sql_engines(
    backend: str, tmp: Path
) -> tuple[AsyncEngine, AsyncEngine, AsyncEngine | None]:
    """(AgentScope's engine, memmark's engine, the admin engine that made the peer's database)."""
    if backend == "sqlite":
        peer = create_async_engine(f"sqlite+aiosqlite:///{tmp / 'peer.db'}")
        return peer, create_async_engine(f"sqlite+aiosqlite:///{tmp / 'memmark.db'}"), None
    url = PG_URL if backend == "postgresql" else MYSQL_URL
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    await drop_peer_database(admin)
    async with admin.connect() as conn:
        await conn.execute(sa.text(f"CREATE DATABASE {PEER_DB}"))
    peer = create_async_engine(make_url(url).set(database=PEER_DB))
    return peer, create_async_engine(url), admin


async def drop_peer_database(admin: AsyncEngine) -> None:
    async with admin.connect() as conn:
        if conn.dialect.name == "postgresql":
            exists = "SELECT 1 FROM pg_database WHERE datname = :name"
            drop = f"DROP DATABASE {PEER_DB} WITH (FORCE)"
        else:
            exists = "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"
            drop = f"DROP DATABASE {PEER_DB}"
        if (await conn.execute(sa.text(exists), {"name": PEER_DB})).first() is not None:
            await conn.execute(sa.text(drop))


# -- report ------------------------------------------------------------------------------


@dataclass
class Result:
    """One backend's row."""

    backend: str
    peer_us: float
    memmark_us: float
    conversion_us: float

    def line(self) -> str:
        share = 100 * self.conversion_us / self.memmark_us
        ratio = self.peer_us / self.memmark_us
        return (
            f"| {self.backend:<10} | {self.peer_us:>18,.1f} | {self.memmark_us:>15,.1f} | "
            f"{ratio:>5.1f}× | {self.conversion_us:>8,.1f} | {share:>9.1f} % |"
        )


HEADER = (
    "| backend    | AgentScope µs/turn | memmark µs/turn |  ratio |  seam µs |  seam share |\n"
    "|------------|-------------------:|----------------:|-------:|---------:|------------:|"
)


async def run(backends: list[str], messages: int, rounds: int) -> list[Result]:
    """Measure each backend; print and return its row."""
    results = []
    print(f"{messages}-message session, {rounds} turns each, median µs per turn\n")
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            async with memories(backend, Path(tmp)) as (peer_mem, our_mem):
                peer, ours = Side(peer_mem), Side(our_mem)
                await compare(peer, ours, messages, rounds)
            result = Result(
                backend,
                statistics.median(peer.times),
                statistics.median(ours.times),
                statistics.median(ours.conversion),
            )
            print(result.line(), flush=True)
            results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BACKENDS), help="backends, comma separated")
    parser.add_argument("--messages", type=int, default=1000, help="messages in the session")
    parser.add_argument("--rounds", type=int, default=200, help="timed turns of each memory")
    args = parser.parse_args()
    backends = [b for b in args.only.split(",") if b]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backends: {sorted(unknown)}; choose from {BACKENDS}")
    asyncio.run(run(backends, args.messages, args.rounds))


if __name__ == "__main__":
    main()
