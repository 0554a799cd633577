"""One ReActAgent turn's memory calls: memmark.agentscope against AgentScope's own memories.

A turn is what ``ReActAgent.reply`` asks of its memory for one user input
that the model answers after one tool call: read the context excluding
``compressed``, add the user's message, add and drop a hint, add the tool
call, its result and the answer; every tenth turn also re-marks five
messages ``compressed`` and stores a summary. Marks are passed as AgentScope
passes them, as ``str`` enum members. The session holds ``--messages``
messages of the shared corpus (``benchmarks/corpus.py``: user text,
assistant text with a ``tool_use`` block and usage metadata, ``tool_result``
with a list output), kept at that size by removing each turn's messages
untimed after it; a turn's user message, tool call and result are the
corpus's next three, its answer a text with an invocation id.

Both memories run in one process on the same servers, taken from the backend
table (``tests/backends.py``; SQLite files in a temporary directory), turn
for turn, alternating which goes first. AgentScope's SQL tables have
fixed names, so its memory gets a database of its own, dropped at the end;
memmark's tables and both sides' Redis keys use unique prefixes, dropped at
the end. The seam columns are the part of memmark's turn spent outside its
backend: converting messages between AgentScope's ``Msg`` and memmark's,
normalising marks, forwarding the calls (the timing wrapper's own cost,
measured first, is left out).

The same rows are a section of the comparison
(``python -m benchmarks.compare --only agent``). Alone::

    uv run python -m benchmarks.agent_turn [--only in-memory,sqlite,postgres,mariadb,redis]
        [--messages 1000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
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
from agentscope import memory as peer_memory
from agentscope.message import Msg
from sqlalchemy.ext.asyncio import create_async_engine

import memmark.agentscope
import memmark.sql
from benchmarks.corpus import Corpus
from benchmarks.peer_db import peer_database
from tests.backends import BY_ID, drop_keys, drop_tables

BACKENDS = ("in-memory", "sqlite", "postgres", "mariadb", "redis")
"""The rows of the backend table AgentScope has a memory for."""

FRESH = 10**8
"""Turn ``n`` takes corpus messages ``3 * (FRESH + n)`` to ``+ 2``, never in a session."""


class Mark(str, Enum):
    """The marks as ReActAgent passes them (its own enum is private)."""

    HINT = "hint"
    COMPRESSED = "compressed"


# -- the messages --------------------------------------------------------------------


def turn_messages(corpus: Corpus, n: int) -> list[Msg]:
    """The four messages of turn ``n``: user input, tool call, tool result, answer.

    The first three are the corpus's (its messages come in that order, a
    third each); the model's replies carry invocation ids, as the agent's do.
    """
    first = 3 * (FRESH + n)
    user, call, result = (corpus.message(Msg, first + k) for k in range(3))
    call.invocation_id = f"chatcmpl-{uuid.uuid4().hex}"
    answer = Msg(
        "Friday",
        [{"type": "text", "text": f"It is sunny and {n % 30} °C: a light jacket will do. " * 3}],
        "assistant",
    )
    answer.invocation_id = f"chatcmpl-{uuid.uuid4().hex}"
    return [user, call, result, answer]


def session(corpus: Corpus, messages: int) -> list[Msg]:
    """A session of the corpus's first ``messages`` messages, with no marks."""
    return [corpus.message(Msg, i) for i in range(messages)]


# -- one turn ------------------------------------------------------------------------


@dataclass
class Side:
    """One memory under test, with the state its turns carry."""

    memory: Any
    corpus: Corpus = field(default_factory=Corpus)
    turns: int = 0
    added: list[str] = field(default_factory=list)
    to_compress: list[str] = field(default_factory=list)
    pending: list[Msg] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    conversion: list[float] = field(default_factory=list)


def next_turn(side: Side) -> None:
    """Make the messages of the side's next turn (untimed: the agent makes them, not the memory)."""
    side.pending = [*turn_messages(side.corpus, side.turns), hint_message()]


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
        msgs = session(side.corpus, messages)
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
    """Yield (AgentScope's memory, memmark.agentscope's) on ``backend``, a table id."""
    user, session_id = f"bench-{uuid.uuid4().hex[:8]}", "agent-turn"
    kind = BY_ID[backend].kind
    if kind == "in-memory":
        yield peer_memory.InMemoryMemory(), memmark.agentscope.InMemoryMemory()
    elif kind == "redis":
        async with redis_memories(BY_ID[backend].url, user, session_id) as pair:
            yield pair
    else:
        async with sql_memories(backend, tmp, user, session_id) as pair:
            yield pair


@contextlib.asynccontextmanager
async def redis_memories(url: str, user: str, session_id: str) -> AsyncIterator[tuple[Any, Any]]:
    pool = aioredis.ConnectionPool.from_url(url, decode_responses=True)
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
            await drop_keys(client, prefix)
        await client.aclose()
        await peer.close()
        await ours.close()
        await pool.disconnect()


@contextlib.asynccontextmanager
async def sql_memories(
    backend: str, tmp: Path, user: str, session_id: str
) -> AsyncIterator[tuple[Any, Any]]:
    async with contextlib.AsyncExitStack() as stack:
        if backend == "sqlite":
            peer_engine = create_async_engine(f"sqlite+aiosqlite:///{tmp / 'peer.db'}")
            our_engine = create_async_engine(f"sqlite+aiosqlite:///{tmp / 'memmark.db'}")
            stack.push_async_callback(peer_engine.dispose)
        else:
            # AgentScope's tables have fixed names: its memory gets a database of its own.
            peer_engine = await stack.enter_async_context(peer_database(BY_ID[backend].url))
            our_engine = create_async_engine(BY_ID[backend].url)
        stack.push_async_callback(our_engine.dispose)
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
            await drop_tables(our_engine, prefix)


# -- report ------------------------------------------------------------------------------


@dataclass
class Result:
    """One backend's row."""

    backend: str
    peer_us: float
    memmark_us: float
    conversion_us: float

    @property
    def ratio(self) -> float:
        """How many times faster memmark's turn is than AgentScope's."""
        return self.peer_us / self.memmark_us

    @property
    def share(self) -> float:
        """The seam's part of memmark's turn, in %."""
        return 100 * self.conversion_us / self.memmark_us

    def line(self) -> str:
        """Return the row as a Markdown table line under :data:`HEADER`."""
        return (
            f"| {self.backend:<10} | {self.peer_us:>18,.1f} | {self.memmark_us:>15,.1f} | "
            f"{self.ratio:>5.1f}× | {self.conversion_us:>8,.1f} | {self.share:>9.1f} % |"
        )


HEADER = (
    "| backend    | AgentScope µs/turn | memmark µs/turn |  ratio |  seam µs |  seam share |\n"
    "|------------|-------------------:|----------------:|-------:|---------:|------------:|"
)


async def measure(
    backend: str, messages: int, rounds: int, corpus: Corpus | None = None, tmp: Path | None = None
) -> Result:
    """Time ``rounds`` turns of each memory on ``backend`` (a table id); return its row.

    Args:
        backend: One of :data:`BACKENDS`.
        messages: Messages in the session.
        rounds: Timed turns of each memory.
        corpus: Where the messages come from (the agent-shaped corpus by default).
        tmp: Where SQLite files go (a temporary directory of its own by default).
    """
    corpus = corpus or Corpus()
    with contextlib.ExitStack() as stack:
        if tmp is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        async with memories(backend, tmp) as (peer_mem, our_mem):
            peer, ours = Side(peer_mem, corpus), Side(our_mem, corpus)
            await compare(peer, ours, messages, rounds)
    return Result(
        backend,
        statistics.median(peer.times),
        statistics.median(ours.times),
        statistics.median(ours.conversion),
    )


async def run(backends: list[str], messages: int, rounds: int) -> list[Result]:
    """Measure each backend; print and return its row."""
    results = []
    print(f"{messages}-message session, {rounds} turns each, median µs per turn\n")
    print(HEADER, flush=True)
    for backend in backends:
        result = await measure(backend, messages, rounds)
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
