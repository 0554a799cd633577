"""InMemoryMemory per-call costs on sessions of 1,000 to 100,000 messages.

Run with ``uv run pytest benchmarks/test_bench_in_memory.py --benchmark-only``.
The in-process memory never suspends, so each coroutine is driven to its end
directly: no event loop overhead hides a microsecond operation.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from itertools import count
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from memmark.core import InMemoryMemory, Msg

SIZES = [1_000, 10_000, 100_000]
ROUNDS = 2_000


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends and return its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the coroutine suspended")


def text(i: int) -> str:
    return f"message {i}: " + "x" * 186


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"{n}msgs")
def session(request: pytest.FixtureRequest) -> InMemoryMemory:
    memory = InMemoryMemory()
    for i in range(request.param):
        marks = ["hint"] if i % 10 == 3 else ["tool"] if i % 10 == 7 else None
        drive(memory.add(Msg("user", text(i), "user"), marks=marks))
    return memory


@pytest.fixture
def fresh() -> Iterator[int]:
    return count(10**9)


def test_add_1(benchmark: BenchmarkFixture, session: InMemoryMemory, fresh: Iterator[int]) -> None:
    before = drive(session.size())

    def setup() -> tuple[tuple[Msg], dict[str, Any]]:
        return (Msg("user", text(next(fresh)), "user"),), {}

    benchmark.pedantic(lambda m: drive(session.add(m)), setup=setup, rounds=ROUNDS)
    drive(session.delete([m.id for m in drive(session.get_memory(limit=ROUNDS))]))
    assert drive(session.size()) == before


def test_delete_1(
    benchmark: BenchmarkFixture, session: InMemoryMemory, fresh: Iterator[int]
) -> None:
    def setup() -> tuple[tuple[str], dict[str, Any]]:
        m = Msg("user", text(next(fresh)), "user")
        drive(session.add(m, marks="tool"))
        return (m.id,), {}

    benchmark.pedantic(lambda i: drive(session.delete([i])), setup=setup, rounds=ROUNDS)


def test_add_100_two_marks(
    benchmark: BenchmarkFixture, session: InMemoryMemory, fresh: Iterator[int]
) -> None:
    def setup() -> tuple[tuple[list[Msg]], dict[str, Any]]:
        drive(session.delete_by_mark("batch"))  # keep the session at its size
        return ([Msg("user", text(next(fresh)), "user") for _ in range(100)],), {}

    benchmark.pedantic(
        lambda ms: drive(session.add(ms, marks=["batch", "tool"])), setup=setup, rounds=200
    )
    drive(session.delete_by_mark("batch"))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"mark": "hint"}, {"exclude_mark": "hint"}, {"limit": 20}],
    ids=["all", "mark", "exclude_mark", "limit20"],
)
def test_get_memory(
    benchmark: BenchmarkFixture, session: InMemoryMemory, kwargs: dict[str, Any]
) -> None:
    result = benchmark(lambda: drive(session.get_memory(**kwargs)))
    assert result


def test_delete_by_mark_10(
    benchmark: BenchmarkFixture, session: InMemoryMemory, fresh: Iterator[int]
) -> None:
    def setup() -> tuple[tuple[()], dict[str, Any]]:
        drive(session.add([Msg("user", text(next(fresh)), "user") for _ in range(10)], "doomed"))
        return (), {}

    benchmark.pedantic(lambda: drive(session.delete_by_mark("doomed")), setup=setup, rounds=500)


def test_update_messages_mark(benchmark: BenchmarkFixture, session: InMemoryMemory) -> None:
    def setup() -> tuple[tuple[()], dict[str, Any]]:
        drive(session.update_messages_mark("hint", old_mark="done"))
        return (), {}

    benchmark.pedantic(
        lambda: drive(session.update_messages_mark("done", old_mark="hint")),
        setup=setup,
        rounds=500,
    )
    drive(session.update_messages_mark("hint", old_mark="done"))
