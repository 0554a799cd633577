"""Scale: what a call costs as the session grows from 1,000 to 100,000 messages (1,000,000).

The calls an agent makes whatever the session's size should cost the same
at any size: ``add`` of one message, ``delete`` of one, the newest 50
(``get_memory(limit=50)``) and the few messages carrying a rare mark
(``get_memory(mark="rare")``: 10 messages, all among the first thousand).
One memmark session per backend grows through the sizes (agent-shaped
messages, ``benchmarks/corpus.py``); at each size every call is timed
``--rounds`` times (median). The table ends with each row's flatness: the
cost at the largest size over the cost at the smallest (1.0 is flat).

PostgreSQL runs on tables whose statistics are as the server left them
(no ``ANALYZE``; the backend table's server runs without autovacuum), so a
plan that needs fresh statistics to stay flat shows here. One million
messages (about 2 GB) only on Redis, and only with ``--million``::

    uv run python -m benchmarks.scale [--only in-process,sqlite,postgres,mariadb,redis]
        [--sizes 1000,10000,100000] [--million] [--rounds 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from benchmarks.compare.timing import Call, interleaved, progress
from benchmarks.corpus import Corpus, fill, marks_of
from benchmarks.operations import BY_SLUG, Side
from memmark.core import InMemoryMemory, Msg
from tests.backends import BY_ID, drop_keys, drop_tables, key_prefix, table_prefix

BACKENDS = ("in-process", "sqlite", "postgres", "mariadb", "redis")
SIZES = (1_000, 10_000, 100_000)
RARE = "rare"
"""The mark 10 of the session's messages carry, all among its first thousand."""
FILL_BATCH = 1_000

CALLS = ("add 1", "delete 1", "get_memory(limit=50)", f"get_memory(mark={RARE!r})")


@contextlib.asynccontextmanager
async def memory_on(backend: str, tmp: Path) -> AsyncIterator[Any]:
    """Yield a memmark memory of a new session on ``backend``; drop it afterwards."""
    if backend == "in-process":
        yield InMemoryMemory()
        return
    if backend == "redis":
        from memmark.redis import RedisMemory
        from tests.backends import redis_client

        client = redis_client(BY_ID["redis"].url)
        prefix = key_prefix()
        try:
            yield RedisMemory(client=client, key_prefix=prefix, session_id="scale")
        finally:
            await drop_keys(client, prefix)
            await client.aclose()
        return
    from sqlalchemy.ext.asyncio import create_async_engine

    from memmark.sql import AsyncSQLAlchemyMemory

    url = f"sqlite+aiosqlite:///{tmp / 'scale.db'}" if backend == "sqlite" else BY_ID[backend].url
    engine = create_async_engine(url)
    prefix = table_prefix()
    memory = AsyncSQLAlchemyMemory(engine, "scale", "bench", table_prefix=prefix)
    try:
        yield memory
    finally:
        await memory.close()
        await drop_tables(engine, prefix)
        await engine.dispose()


def marks(i: int) -> list[str]:
    """Return message ``i``'s marks: the corpus's, and the rare one on 10 of the first 1,000."""
    return [*marks_of(i), RARE] if i < 1_000 and i % 100 == 50 else marks_of(i)


async def grow(side: Side, to: int) -> None:
    """Add corpus messages until the session holds ``to`` (untimed)."""
    for low in range(side.size, to, FILL_BATCH):
        high = min(to, low + FILL_BATCH)
        await fill(side.memory, [(side.corpus.message(Msg, i), marks(i)) for i in range(low, high)])
        side.size = high
        if high % 50_000 == 0:
            progress(f"{high:,} messages")


async def measure_size(side: Side, rounds: int) -> list[float]:
    """Median µs of each of :data:`CALLS` on the session as it is."""
    add, delete = BY_SLUG["add_1"], BY_SLUG["delete_1"]
    # Each step keeps its pending message on its own side of the same memory.
    deleting = Side(side.memory, Msg, side.corpus, side.size)

    async def last_50() -> Any:
        return await side.memory.get_memory(limit=50)

    async def rare() -> Any:
        return await side.memory.get_memory(mark=RARE)

    calls: list[tuple[Call, Call | None]] = [
        (lambda: add.call(side), lambda: add.setup(side)),  # type: ignore[misc]
        (lambda: delete.call(deleting), lambda: delete.setup(deleting)),  # type: ignore[misc]
        (last_50, None),
        (rare, None),
    ]
    times = await interleaved(calls, rounds=rounds)
    await add.finish(side)  # type: ignore[misc]
    side.pending = None
    expected = sum(1 for i in range(min(side.size, 1_000)) if RARE in marks(i))
    assert len(await rare()) == expected, "the rare mark is where it was put"
    return times


async def run_backend(backend: str, sizes: list[int], rounds: int, tmp: Path) -> list[list[float]]:
    """Grow one session through ``sizes``; return per size the median µs of each call."""
    results = []
    async with memory_on(backend, tmp) as memory:
        side = Side(memory, Msg, Corpus("agent"))
        for size in sizes:
            progress(f"{backend}: growing the session to {size:,} messages")
            started = time.perf_counter()
            await grow(side, size)
            progress(f"{backend}: filled in {time.perf_counter() - started:.0f} s; timing")
            results.append(await measure_size(side, rounds))
    return results


def report(backend: str, sizes: list[int], results: list[list[float]]) -> str:
    """Return one backend's Markdown table: µs per call at each size, and the flatness."""
    head = " | ".join(f"{s:>10,}" for s in sizes)
    lines = [
        f"| {backend:<10} | {'call':<24} | {head} | flatness |",
        f"|{'-' * 12}|{'-' * 26}|" + "".join(f"{'-' * 11}:|" for _ in sizes) + "---------:|",
    ]
    for i, call in enumerate(CALLS):
        cells = " | ".join(f"{r[i]:>10,.1f}" for r in results)
        flat = results[-1][i] / results[0][i]
        lines.append(f"| {backend:<10} | {call:<24} | {cells} | {flat:>7.2f}× |")
    return "\n".join(lines)


async def main_async(backends: list[str], sizes: list[int], million: bool, rounds: int) -> None:
    print(f"# µs per call (median of {rounds}), agent-shaped messages; flatness = last / first\n")
    with tempfile.TemporaryDirectory(prefix="memmark-scale-") as tmp:
        for backend in backends:
            these = [*sizes, 1_000_000] if million and backend == "redis" else sizes
            results = await run_backend(backend, these, rounds, Path(tmp))
            print(report(backend, these, results) + "\n", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BACKENDS), help="backends, comma separated")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="session sizes")
    parser.add_argument("--million", action="store_true", help="Redis also at 1,000,000")
    parser.add_argument("--rounds", type=int, default=50, help="timed calls per size")
    args = parser.parse_args()
    backends = [b for b in args.only.split(",") if b]
    if set(backends) - set(BACKENDS):
        parser.error(f"backends: {BACKENDS}")
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    asyncio.run(main_async(backends, sizes, args.million, args.rounds))


if __name__ == "__main__":
    main()
