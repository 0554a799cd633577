"""RedisMemory per-call costs on sessions of 1,000 to 100,000 messages.

Run with ``uv run pytest benchmarks/test_bench_redis.py --benchmark-only``
against the Redis server of the backend table (``tests/backends.py``;
``MEMMARK_REDIS_URL``, db 15 by default). Every operation of
``benchmarks/operations.py`` on agent-shaped sessions of 1,000 and 10,000
messages and plain ones of 1,000 to 100,000 (``benchmarks/corpus.py``). Each
call is one round trip, so these are round trip plus script time plus
decoding; ``add 1`` and ``delete 1`` should not grow with the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from benchmarks.operations import OPERATIONS, Operation
from benchmarks.suite import Session, time_operation
from memmark.core import Msg
from memmark.redis import RedisMemory
from tests.backends import BY_ID, drop_keys, key_prefix, redis_client, usable

REDIS = BY_ID["redis"]
SESSIONS = [
    REDIS.param((shape, size), id=f"redis-{shape}-{size}msgs")
    for shape, size in (
        ("agent", 1_000),
        ("agent", 10_000),
        ("plain", 1_000),
        ("plain", 10_000),
        ("plain", 100_000),
    )
]
ROUNDS = {"add_1": 500, "add_100": 100, "delete_1": 500, "delete_by_mark_10": 200,
          "get_limit_20": 500, "size": 500, "get_mark": 100}  # fmt: skip


@pytest.fixture(scope="module", params=SESSIONS)
def session(request: pytest.FixtureRequest) -> Iterator[Session]:
    shape, size = request.param
    client = redis_client(usable(request, REDIS).url)
    prefix = key_prefix()
    loop = asyncio.new_event_loop()
    try:
        yield Session(RedisMemory(client=client, key_prefix=prefix), Msg, shape, size, loop)
    finally:
        loop.run_until_complete(drop_keys(client, prefix))
        loop.run_until_complete(client.aclose())
        loop.close()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.slug)
def test_operation(benchmark: object, session: Session, operation: Operation) -> None:
    # Whole-session reads and re-marks of 100,000 messages take long: fewer rounds.
    rounds = ROUNDS.get(operation.slug, 50)
    if session.side.size > 10_000:
        rounds = max(5, rounds // 10)
    time_operation(benchmark, session, operation, rounds)
