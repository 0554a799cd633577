"""Scale, as a pytest-benchmark suite: the calls that must cost the same at any session size.

Marked ``slow`` (filling 100,000 agent-shaped messages takes minutes per
backend), so only ``-m slow`` runs it::

    uv run pytest benchmarks/test_bench_scale.py -m slow --benchmark-only \\
        --benchmark-group-by=param:call

Each backend's session is filled to 1,000, 10,000 and 100,000 messages
(``benchmarks/scale.py`` says what is timed; ``python -m benchmarks.scale``
prints the same figures with each call's flatness). Group the results by
call to read a row's flatness across sizes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import scale
from benchmarks.corpus import Corpus
from benchmarks.operations import BY_SLUG, Side
from memmark.core import Msg
from tests.backends import BY_ID, usable

pytestmark = pytest.mark.slow

SESSIONS = [
    BY_ID[backend].param((backend, size), id=f"{backend}-{size}msgs")
    for backend in ("in-memory", "sqlite", "postgres", "mariadb", "redis")
    for size in scale.SIZES
]
ROUNDS = 30


@pytest.fixture(scope="module", params=SESSIONS)
def grown(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    backend, size = request.param
    usable(request, BY_ID[backend])
    loop = asyncio.new_event_loop()
    name = "in-process" if backend == "in-memory" else backend
    place = scale.memory_on(name, Path(tmp_path_factory.mktemp("scale")))
    try:
        memory = loop.run_until_complete(place.__aenter__())
        side = Side(memory, Msg, Corpus("agent"))
        loop.run_until_complete(scale.grow(side, size))
        yield loop, side
    finally:
        loop.run_until_complete(place.__aexit__(None, None, None))
        loop.close()


@pytest.mark.parametrize("call", ["add_1", "delete_1", "get_limit_50", "get_rare"])
def test_call_at_size(benchmark: Any, grown: Any, call: str) -> None:
    loop, side = grown
    setup = None
    if call in ("add_1", "delete_1"):
        op = BY_SLUG[call]
        step = side if call == "add_1" else Side(side.memory, Msg, side.corpus, side.size)

        def setup() -> None:
            loop.run_until_complete(op.setup(step))  # type: ignore[misc]

        def timed() -> Any:
            return loop.run_until_complete(op.call(step))

    elif call == "get_limit_50":

        def timed() -> Any:
            return loop.run_until_complete(side.memory.get_memory(limit=50))

    else:

        def timed() -> Any:
            return loop.run_until_complete(side.memory.get_memory(mark=scale.RARE))

    result = benchmark.pedantic(timed, setup=setup, rounds=ROUNDS)
    if call == "add_1":
        loop.run_until_complete(BY_SLUG["add_1"].finish(side))  # type: ignore[misc]
    elif call == "delete_1":
        assert result == 1
    elif call == "get_limit_50":
        assert len(result) == 50
    else:
        assert len(result) == 10  # the rare mark's messages, whatever the size
    assert loop.run_until_complete(side.memory.size()) == side.size
