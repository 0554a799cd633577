"""InMemoryMemory per-call costs on sessions of 1,000 to 100,000 messages.

Run with ``uv run pytest benchmarks/test_bench_in_memory.py --benchmark-only``.
Every operation of ``benchmarks/operations.py`` on agent-shaped sessions of
1,000 and 10,000 messages and plain ones of 1,000 to 100,000 (the corpus:
``benchmarks/corpus.py``). The in-process memory never suspends, so each
coroutine is driven to its end directly: no event loop overhead hides a
microsecond operation.
"""

from __future__ import annotations

import pytest

from benchmarks.operations import OPERATIONS, Operation
from benchmarks.suite import Session, params, time_operation
from memmark.core import InMemoryMemory, Msg

SESSIONS = [("agent", 1_000), ("agent", 10_000), ("plain", 1_000), ("plain", 10_000),
            ("plain", 100_000)]  # fmt: skip
ROUNDS = {"add_100": 200, "delete_by_mark_10": 500, "update_marks_10_percent": 500}


@pytest.fixture(scope="module", **params(SESSIONS))
def session(request: pytest.FixtureRequest) -> Session:
    shape, size = request.param
    return Session(InMemoryMemory(), Msg, shape, size)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.slug)
def test_operation(benchmark: object, session: Session, operation: Operation) -> None:
    rounds = ROUNDS.get(operation.slug, 200 if operation.reads else 2_000)
    time_operation(benchmark, session, operation, rounds)
