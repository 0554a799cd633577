"""RedisMemory per-call costs on sessions of 1,000 to 100,000 messages.

Run with ``uv run pytest benchmarks/test_bench_redis.py --benchmark-only``
against the server of ``MEMMARK_REDIS_URL`` (db 15 by default). Each call is
one round trip, so these are round trip plus script time plus decoding;
``add 1`` and ``delete 1`` should not grow with the session.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Coroutine, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from pytest_benchmark.fixture import BenchmarkFixture

from memmark.core import Msg
from memmark.redis import RedisMemory

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import require_server

REDIS_URL = os.environ.get("MEMMARK_REDIS_URL", "redis://127.0.0.1:6379/15")
SIZES = [1_000, 10_000, 100_000]


class Bench:
    """A session of ``n`` messages (10 % "hint", 10 % "tool") and a loop to drive it."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.loop = asyncio.new_event_loop()
        self.client = aioredis.Redis.from_url(REDIS_URL)
        self.memory = RedisMemory(client=self.client, key_prefix=f"bench:{uuid.uuid4().hex}:")

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def fill(self) -> None:
        batch: list[tuple[Msg, str | None]] = []
        for i in range(self.n):
            mark = "hint" if i % 10 == 3 else "tool" if i % 10 == 7 else None
            batch.append((Msg("user", text(i), "user"), mark))
            if len(batch) == 1000 or i == self.n - 1:
                for mark_of in ("hint", "tool", None):
                    msgs = [m for m, k in batch if k == mark_of]
                    self.run(self.memory.add(msgs, marks=mark_of))
                batch = []

    def close(self) -> None:
        self.run(self.client.delete(*self.memory.keys))  # every key of the session
        self.run(self.client.aclose())
        self.loop.close()


def text(i: int) -> str:
    return f"message {i}: " + "x" * 186


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"{n}msgs")
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    require_server("Redis", REDIS_URL)
    b = Bench(request.param)
    try:
        b.fill()
        yield b
    finally:
        b.close()


@pytest.fixture
def fresh() -> Iterator[int]:
    return count(10**9)


def _rounds(b: Bench, small: int, big: int) -> int:
    return small if b.n <= 10_000 else big


def test_add_1(benchmark: BenchmarkFixture, bench: Bench, fresh: Iterator[int]) -> None:
    added: list[str] = []

    def setup() -> tuple[tuple[Msg], dict[str, Any]]:
        m = Msg("user", text(next(fresh)), "user")
        added.append(m.id)
        return (m,), {}

    benchmark.pedantic(lambda m: bench.run(bench.memory.add(m)), setup=setup, rounds=500)
    assert bench.run(bench.memory.delete(added)) == len(added)


def test_add_100_two_marks(benchmark: BenchmarkFixture, bench: Bench, fresh: Iterator[int]) -> None:
    def setup() -> tuple[tuple[list[Msg]], dict[str, Any]]:
        bench.run(bench.memory.delete_by_mark("batch"))
        return ([Msg("user", text(next(fresh)), "user") for _ in range(100)],), {}

    def call(msgs: list[Msg]) -> None:
        bench.run(bench.memory.add(msgs, marks=["batch", "tool"]))

    benchmark.pedantic(call, setup=setup, rounds=100)
    assert bench.run(bench.memory.delete_by_mark("batch")) == 100


def test_get_memory_all(benchmark: BenchmarkFixture, bench: Bench) -> None:
    got = benchmark.pedantic(
        lambda: bench.run(bench.memory.get_memory()), rounds=_rounds(bench, 50, 5)
    )
    assert len(got) == bench.n


def test_get_memory_mark(benchmark: BenchmarkFixture, bench: Bench) -> None:
    got = benchmark.pedantic(
        lambda: bench.run(bench.memory.get_memory(mark="hint")), rounds=_rounds(bench, 100, 10)
    )
    assert len(got) == bench.n // 10


def test_get_memory_exclude_mark(benchmark: BenchmarkFixture, bench: Bench) -> None:
    got = benchmark.pedantic(
        lambda: bench.run(bench.memory.get_memory(exclude_mark="hint")),
        rounds=_rounds(bench, 50, 5),
    )
    assert len(got) == bench.n - bench.n // 10


def test_get_memory_limit_20(benchmark: BenchmarkFixture, bench: Bench) -> None:
    got = benchmark.pedantic(lambda: bench.run(bench.memory.get_memory(limit=20)), rounds=500)
    assert len(got) == 20


def test_delete_1(benchmark: BenchmarkFixture, bench: Bench, fresh: Iterator[int]) -> None:
    def setup() -> tuple[tuple[str], dict[str, Any]]:
        m = Msg("user", text(next(fresh)), "user")
        bench.run(bench.memory.add(m))
        return (m.id,), {}

    removed = benchmark.pedantic(
        lambda i: bench.run(bench.memory.delete([i])), setup=setup, rounds=500
    )
    assert removed == 1


def test_delete_by_mark_10(benchmark: BenchmarkFixture, bench: Bench, fresh: Iterator[int]) -> None:
    def setup() -> tuple[tuple[()], dict[str, Any]]:
        msgs = [Msg("user", text(next(fresh)), "user") for _ in range(10)]
        bench.run(bench.memory.add(msgs, marks="doomed"))
        return (), {}

    removed = benchmark.pedantic(
        lambda: bench.run(bench.memory.delete_by_mark("doomed")), setup=setup, rounds=200
    )
    assert removed == 10


def test_update_messages_mark_10_percent(benchmark: BenchmarkFixture, bench: Bench) -> None:
    def setup() -> tuple[tuple[()], dict[str, Any]]:
        bench.run(bench.memory.update_messages_mark("hint", old_mark="done"))
        return (), {}

    changed = benchmark.pedantic(
        lambda: bench.run(bench.memory.update_messages_mark("done", old_mark="hint")),
        setup=setup,
        rounds=_rounds(bench, 50, 5),
    )
    assert changed == bench.n // 10
    bench.run(bench.memory.update_messages_mark("hint", old_mark="done"))
