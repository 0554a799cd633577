"""Throughput under load: many worker processes, each serving many agent sessions at once.

How our users run: P worker processes (default 4), each with T asyncio
tasks (default 16). Each task owns ``--sessions`` sessions (default 2) of
``--messages`` corpus messages (default 200, ``benchmarks/corpus.py``) and,
for S seconds, loops over them doing one ReActAgent turn at a time
(``benchmarks/agent_turn.py`` says what a turn asks of its memory). As in an
agent server, every turn makes its own memory object on the process's shared
pool (Redis) or engine (SQL) and closes it at the end; making it and closing
it are part of the turn. Sessions grow as they would: four messages a turn,
and every tenth turn re-marks five ``compressed`` and stores a summary.

Sides, one after the other on the same server, with the same processes,
tasks and sessions: ``memmark`` (``memmark.agentscope``'s memory) and ``peer``
(AgentScope's own), and on Redis the ``ceiling``: the same processes and
tasks doing nothing but ``EVALSHA`` of an empty script, as fast as they can.
Reported per side: turns/s, p50 and p99 latency of a turn (queueing in the
task's event loop included: that is what an agent waits), and on Redis the
server calls per second (turns/s times the calls a turn makes, counted
beforehand on one turn of each kind) as a share of the ceiling.

A turn's messages are copies, with new ids, of a pool of corpus turns each
process makes before the timed part (:data:`TURN_POOL`): in an agent
server the model writes them elsewhere, and made from the corpus's random
text every turn they took more of a worker's CPU than either memory did.

Servers come from the backend table (``tests/backends.py``); the peer's SQL
tables have fixed names, so on SQL it gets a database of its own, dropped at
the end, as memmark's tables and both sides' Redis keys are. Usage::

    uv run python -m benchmarks.throughput [--only redis,postgres,mariadb]
        [--sides memmark,peer,ceiling] [--processes 4] [--tasks 16]
        [--seconds 20] [--sessions 2] [--messages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import multiprocessing
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from benchmarks import agent_turn, peer_db
from benchmarks.corpus import Corpus
from tests.backends import BY_ID, drop_keys, drop_tables

BACKENDS = ("redis", "postgres", "mariadb")
"""The backends a throughput run can use (SQLite serialises writers: not a server)."""

TURN_POOL = 32
"""How many corpus turns each process makes before the timed part; turns reuse them."""

SIDES = ("memmark", "peer", "ceiling")
"""What runs: memmark's memory, AgentScope's, and (Redis only) empty ``EVALSHA`` s."""


@dataclass(frozen=True)
class Plan:
    """One side's run, as each worker process gets it.

    Attributes:
        backend: A backend table id (one of :data:`BACKENDS`).
        side: One of :data:`SIDES`.
        url: Where the side's memories live (for the peer on SQL: its own database).
        prefix: The run's Redis key prefix or SQL table prefix (memmark's tables).
        processes: Worker processes.
        tasks: Asyncio tasks per process.
        seconds: How long the timed part lasts.
        sessions: Sessions per task.
        messages: Messages per session before the first turn.
    """

    backend: str
    side: str
    url: str
    prefix: str
    processes: int = 4
    tasks: int = 16
    seconds: float = 20.0
    sessions: int = 2
    messages: int = 200


@dataclass
class Result:
    """One side's figures."""

    backend: str
    side: str
    turns: int
    seconds: float
    latencies_us: list[float] = field(default_factory=list, repr=False)
    calls_per_turn: float | None = None
    errors: int = 0

    @property
    def rate(self) -> float:
        """Turns per second (calls per second for the ceiling)."""
        return self.turns / self.seconds

    def percentile(self, q: float) -> float:
        """The ``q`` quantile (0..1) of a turn's latency, in ms."""
        if not self.latencies_us:
            return float("nan")
        ordered = sorted(self.latencies_us)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000

    @property
    def calls_per_second(self) -> float | None:
        """Server calls per second: turns/s times the calls a turn makes."""
        if self.calls_per_turn is None:
            return None
        return self.rate * self.calls_per_turn


# -- memories, one per turn --------------------------------------------------------------


@contextlib.asynccontextmanager
async def memory_factory(plan: Plan) -> AsyncIterator[Callable[[str, str], Any]]:
    """Yield ``make(user, session) -> memory`` over one pool or engine for the process."""
    from agentscope import memory as peer_memory

    import memmark.agentscope

    if plan.backend == "redis":
        pool = aioredis.ConnectionPool.from_url(
            plan.url, decode_responses=True, max_connections=plan.tasks * 2
        )
        cls = memmark.agentscope.RedisMemory if plan.side == "memmark" else peer_memory.RedisMemory
        try:
            yield lambda user, sid: cls(
                session_id=sid, user_id=user, connection_pool=pool, key_prefix=plan.prefix
            )
        finally:
            await pool.disconnect()
        return
    from sqlalchemy.ext.asyncio import create_async_engine

    # Each task holds at most one connection at a time: a pool that never makes one wait.
    engine = create_async_engine(plan.url, pool_size=plan.tasks, max_overflow=plan.tasks)
    try:
        if plan.side == "memmark":
            yield lambda user, sid: memmark.agentscope.AsyncSQLAlchemyMemory(
                engine, session_id=sid, user_id=user, table_prefix=plan.prefix
            )
        else:
            yield lambda user, sid: peer_memory.AsyncSQLAlchemyMemory(
                engine, session_id=sid, user_id=user
            )
    finally:
        await engine.dispose()


@dataclass
class _Session:
    user: str
    session_id: str
    state: agent_turn.Side


def _renewed(msg: Any) -> Any:
    """A copy of ``msg`` with a new id (its values shared: both memories copy what they store)."""
    fresh = copy.copy(msg)
    fresh.id = uuid.uuid4().hex
    return fresh


def next_turn(session: _Session, pool: list[list[Any]]) -> None:
    """Give the session's next turn its messages, renewed from the pool (untimed)."""
    state = session.state
    state.pending = [_renewed(msg) for msg in pool[state.turns % len(pool)]]


async def _fill(make: Callable[[str, str], Any], plan: Plan, worker: int) -> list[list[_Session]]:
    """Make and fill every task's sessions (untimed); return them per task."""
    corpus = Corpus()
    per_task: list[list[_Session]] = []
    for task in range(plan.tasks):
        sessions = []
        for k in range(plan.sessions):
            user, sid = f"u{worker}-{task}", f"s{worker}-{task}-{k}"
            memory = make(user, sid)
            msgs = agent_turn.session(corpus, plan.messages)
            await memory.add(msgs)
            await memory.close()
            state = agent_turn.Side(None, corpus)
            state.to_compress = [m.id for m in msgs]
            sessions.append(_Session(user, sid, state))
        per_task.append(sessions)
    return per_task


async def one_turn(make: Callable[[str, str], Any], session: _Session) -> None:
    """One agent turn on ``session`` through a memory made for it and closed after."""
    memory = make(session.user, session.session_id)
    session.state.memory = memory
    try:
        await agent_turn.agent_turn(session.state)
    finally:
        await memory.close()


async def _turns(plan: Plan, worker: int, barrier: Any, done: Synchronized[int]) -> Result:
    async with memory_factory(plan) as make:
        per_task = await _fill(make, plan, worker)
        corpus = Corpus()
        pool = [
            [*agent_turn.turn_messages(corpus, n), agent_turn.hint_message()]
            for n in range(TURN_POOL)
        ]
        latencies: list[float] = []
        errors = [0]
        await asyncio.to_thread(barrier.wait)
        end = time.perf_counter() + plan.seconds

        async def task(sessions: list[_Session]) -> None:
            i = 0
            while True:
                session = sessions[i % len(sessions)]
                i += 1
                next_turn(session, pool)  # the agent's messages: untimed
                start = time.perf_counter()
                if start >= end:
                    return
                try:
                    await one_turn(make, session)
                except (RedisConnectionError, RedisTimeoutError, OSError):
                    # A server stalled by other load: the turn did not happen.
                    errors[0] += 1
                    continue
                latencies.append((time.perf_counter() - start) * 1e6)
                done.value += 1

        started = time.perf_counter()
        await asyncio.gather(*(task(sessions) for sessions in per_task))
        elapsed = time.perf_counter() - started
    return Result(plan.backend, plan.side, len(latencies), elapsed, latencies, errors=errors[0])


async def _ceiling(plan: Plan, barrier: Any, done: Synchronized[int]) -> Result:
    client = aioredis.Redis.from_url(plan.url, max_connections=plan.tasks * 2)
    sha = await client.script_load("return nil")
    await asyncio.to_thread(barrier.wait)
    end = time.perf_counter() + plan.seconds
    calls = errors = 0

    async def task() -> None:
        nonlocal calls, errors
        while time.perf_counter() < end:
            try:
                await client.execute_command("EVALSHA", sha, 0)
            except NoScriptError:  # another client flushed the script cache
                await client.script_load("return nil")
                continue
            except (RedisConnectionError, RedisTimeoutError):
                # A server stalled by other load: not a call made; go on.
                errors += 1
                continue
            calls += 1
            done.value += 1

    started = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(plan.tasks)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    return Result(plan.backend, plan.side, calls, elapsed, errors=errors)


def _worker(plan: Plan, worker: int, barrier: Any, done: Synchronized[int], out: Any) -> None:
    if plan.side == "ceiling":
        result = asyncio.run(_ceiling(plan, barrier, done))
    else:
        result = asyncio.run(_turns(plan, worker, barrier, done))
    out.put(result)


# -- the parent: start, show progress, gather ------------------------------------------------


def progress(text: str) -> None:
    """Print a progress line on stderr, out of the table's way."""
    print(f"  .. {text}", file=sys.stderr, flush=True)


def run_side(plan: Plan) -> Result:
    """Run one side in ``plan.processes`` fresh processes; return their figures together."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(plan.processes + 1)
    out = ctx.Queue()
    counters = [ctx.Value("q", 0, lock=False) for _ in range(plan.processes)]
    workers = [
        ctx.Process(target=_worker, args=(plan, i, barrier, counters[i], out), daemon=True)
        for i in range(plan.processes)
    ]
    for w in workers:
        w.start()
    what = "empty EVALSHAs" if plan.side == "ceiling" else "turns"
    progress(
        f"{plan.backend} {plan.side}: {plan.processes} processes × {plan.tasks} tasks"
        + ("" if plan.side == "ceiling" else f", filling {plan.sessions} sessions per task")
    )
    barrier.wait(timeout=600)
    started = time.perf_counter()
    results: list[Result] = []
    last = 0
    while len(results) < plan.processes:
        with contextlib.suppress(Exception):
            results.append(out.get(timeout=2.0))
            continue
        elapsed = time.perf_counter() - started
        count = sum(c.value for c in counters)
        progress(
            f"{plan.backend} {plan.side}: {elapsed:5.1f} s, {count:,} {what}, "
            f"{(count - last) / 2.0:,.0f}/s now"
        )
        last = count
        if not any(w.is_alive() for w in workers) and out.empty():
            codes = [w.exitcode for w in workers]
            raise RuntimeError(f"{plan.side} workers died: exit codes {codes}")
    for w in workers:
        w.join()
    latencies = [x for r in results for x in r.latencies_us]
    seconds = max(r.seconds for r in results)
    errors = sum(r.errors for r in results)
    if errors:
        progress(f"{plan.backend} {plan.side}: {errors} calls failed on a stalled server")
    turns = sum(r.turns for r in results)
    return Result(plan.backend, plan.side, turns, seconds, latencies, errors=errors)


def count_redis_calls(url: str, prefix: str, turns: int = 10) -> float:
    """Return the server calls one memmark turn makes on Redis, averaged over ``turns`` turns."""
    calls = 0
    original = aioredis.Redis.execute_command

    async def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await original(self, *args, **kwargs)

    async def measure() -> float:
        nonlocal calls
        plan = Plan("redis", "memmark", url, prefix, tasks=1, sessions=1, messages=50)
        async with memory_factory(plan) as make:
            ((session,),) = await _fill(make, plan, worker=-1)
            aioredis.Redis.execute_command = counting  # type: ignore[method-assign]
            try:
                for _ in range(turns):
                    agent_turn.next_turn(session.state)
                    await one_turn(make, session)
            finally:
                aioredis.Redis.execute_command = original  # type: ignore[method-assign]
        return calls / turns

    return asyncio.run(measure())


# -- servers: where each side lives, and cleaning up -------------------------------------------


@contextlib.contextmanager
def places(backend: str) -> Iterator[dict[str, tuple[str, str]]]:
    """Yield ``{side: (url, prefix)}`` on ``backend``; drop what the runs made afterwards."""
    url = BY_ID[backend].url
    run_id = uuid.uuid4().hex[:10]
    if backend == "redis":
        where = {side: (url, f"bench-tp-{side}-{run_id}:") for side in SIDES}
        try:
            yield where
        finally:

            async def drop() -> None:
                client = aioredis.Redis.from_url(url)
                for _, prefix in where.values():
                    await drop_keys(client, prefix)
                await client.aclose()

            asyncio.run(drop())
        return
    from sqlalchemy.ext.asyncio import create_async_engine

    prefix = f"bench_tp_{run_id}_"
    peer_name = peer_db.new_name()  # AgentScope's tables have fixed names

    async def cleanup() -> None:
        engine = create_async_engine(url)
        await drop_tables(engine, prefix)
        await engine.dispose()
        await peer_db.drop_database(url, peer_name)

    asyncio.run(peer_db.create_database(url, peer_name))
    try:
        yield {"memmark": (url, prefix), "peer": (peer_db.url_of(url, peer_name), "")}
    finally:
        asyncio.run(cleanup())


def make_tables(plan: Plan) -> None:
    """Create a side's SQL tables once, before workers race to create them."""

    async def create() -> None:
        async with memory_factory(plan) as make:
            memory = make("setup", "setup")
            await memory.get_memory()
            await memory.close()

    asyncio.run(create())


# -- report ------------------------------------------------------------------------------


HEADER = (
    "| backend  | side     |    turns/s | p50 ms | p99 ms | server calls/s | share of ceiling |\n"
    "|----------|----------|-----------:|-------:|-------:|---------------:|-----------------:|"
)


def line(result: Result, ceiling: Result | None) -> str:
    """Return ``result`` as a Markdown line under :data:`HEADER`."""
    if result.side == "ceiling":
        return (
            f"| {result.backend:<8} | ceiling  | {'—':>10} | {'—':>6} | {'—':>6} | "
            f"{result.rate:>14,.0f} | {'100 %':>16} |"
        )
    calls = result.calls_per_second
    share = "—"
    if calls is not None and ceiling is not None:
        share = f"{100 * calls / ceiling.rate:.0f} %"
    return (
        f"| {result.backend:<8} | {result.side:<8} | {result.rate:>10,.1f} | "
        f"{result.percentile(0.5):>6,.1f} | {result.percentile(0.99):>6,.1f} | "
        f"{'—' if calls is None else f'{calls:,.0f}':>14} | {share:>16} |"
    )


def measure(backend: str, sides: tuple[str, ...], **sizes: Any) -> list[Result]:
    """Run ``sides`` on ``backend`` one after the other; return one result each.

    Args:
        backend: One of :data:`BACKENDS`.
        sides: Some of :data:`SIDES` (``ceiling`` only counts on Redis).
        **sizes: ``processes``, ``tasks``, ``seconds``, ``sessions``,
            ``messages`` of :class:`Plan`.
    """
    results = []
    with places(backend) as where:
        for side in sides:
            if side == "ceiling" and backend != "redis":
                continue
            url, prefix = where.get(side, where.get("memmark", ("", "")))
            plan = Plan(backend, side, url, prefix, **sizes)
            if backend != "redis" and side != "ceiling":
                make_tables(plan)
            result = run_side(plan)
            if backend == "redis" and side == "memmark":
                result.calls_per_turn = count_redis_calls(url, prefix)
            results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="redis,postgres", help="backends, comma separated")
    parser.add_argument("--sides", default=",".join(SIDES), help="sides, comma separated")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=16, help="asyncio tasks per process")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed part of each side")
    parser.add_argument("--sessions", type=int, default=2, help="sessions per task")
    parser.add_argument("--messages", type=int, default=200, help="messages per session at start")
    args = parser.parse_args()
    backends = [b for b in args.only.split(",") if b]
    sides = tuple(s for s in args.sides.split(",") if s)
    if set(backends) - set(BACKENDS) or set(sides) - set(SIDES):
        parser.error(f"backends: {BACKENDS}; sides: {SIDES}")
    sizes = {
        "processes": args.processes,
        "tasks": args.tasks,
        "seconds": args.seconds,
        "sessions": args.sessions,
        "messages": args.messages,
    }
    print(
        f"# {args.processes} processes × {args.tasks} tasks, {args.seconds:g} s per side, "
        f"{args.sessions} sessions per task of {args.messages} messages at start\n"
    )
    rows: list[tuple[Result, Result | None]] = []
    for backend in backends:
        results = measure(backend, sides, **sizes)
        ceiling = next((r for r in results if r.side == "ceiling"), None)
        rows += [(r, ceiling) for r in results]
    print(HEADER)
    for result, ceiling in rows:
        print(line(result, ceiling))
    for backend in backends:
        by_side = {r.side: r for r, _ in rows if r.backend == backend}
        if "memmark" in by_side and "peer" in by_side:
            ours, peer = by_side["memmark"], by_side["peer"]
            print(
                f"\n{backend}: memmark {ours.rate / peer.rate:.1f}× the peer's turns/s; "
                f"p99 {ours.percentile(0.99):,.1f} ms against {peer.percentile(0.99):,.1f} ms"
            )


if __name__ == "__main__":
    main()
