"""Operations of several statements, raced by several processes on one session.

Each test runs racers (``_racer.py``) side by side on one session, then
checks that every snapshot they read, and the end state, is one some serial
order of the same calls could have left: every message carries ``m`` and
exactly one of ``old`` and ``new`` (a message added while a re-mark, a
clear or an import ran keeps its marks whole), and no mark outlives its
message.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from memmark.sql import AsyncSQLAlchemyMemory
from tests.backends import id_params

Make = Callable[..., AsyncSQLAlchemyMemory]
RACER = Path(__file__).with_name("_racer.py")
ROUNDS = 60
BATCH = 20  # as _racer.py
RULE = (["m", "new"], ["m", "old"])  # as _racer.py
pytestmark = pytest.mark.parametrize("backend", id_params("sqlite", "postgres", "mariadb"))


async def race(engine: AsyncEngine, prefix: str, *jobs: tuple[str, str, int]) -> None:
    """Run each ``(role, name, rounds)`` racer in a process of its own, all at once."""
    url = engine.url.render_as_string(hide_password=False)
    start = str(time.time() + 4)  # time for every racer to start and connect
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(RACER),
            url,
            prefix,
            role,
            name,
            str(n),
            start,
            stderr=subprocess.PIPE,
        )
        for role, name, n in jobs
    ]
    for proc in procs:
        _, err = await asyncio.wait_for(proc.communicate(), timeout=300)
        assert proc.returncode == 0, err.decode()


async def assert_whole(engine: AsyncEngine, prefix: str, memory: AsyncSQLAlchemyMemory) -> None:
    """The session keeps the rule, and every mark row has its message (same id, same seq)."""
    state = await memory.export_state()
    assert [(d["id"], marks) for d, marks in state["content"] if sorted(marks) not in RULE] == []
    orphans = sa.text(
        f"SELECT count(*) FROM {prefix}mark k WHERE NOT EXISTS (SELECT 1 FROM {prefix}message m "
        "WHERE m.sid = k.sid AND m.mid = k.mid AND m.seq = k.seq)"
    )
    async with engine.connect() as conn:
        assert (await conn.execute(orphans)).scalar_one() == 0


async def test_a_remark_racing_adds_leaves_each_message_one_of_the_two_marks(
    memory_on: Make, engine: AsyncEngine, prefix: str
) -> None:
    """Either order of a re-mark and an add leaves the message ``old`` or ``new``, never neither."""
    memory = memory_on("user", "session")
    await memory.size()  # tables exist before the racers start
    await race(engine, prefix, ("remark", "r", ROUNDS), ("add", "a", ROUNDS), ("add", "b", ROUNDS))
    assert await memory.size() == 2 * ROUNDS * BATCH
    await assert_whole(engine, prefix, memory)


@pytest.mark.parametrize("role", ["clear", "import"])
async def test_a_replace_racing_adds_never_leaves_a_message_without_its_marks(
    memory_on: Make, engine: AsyncEngine, prefix: str, role: str
) -> None:
    """No snapshot after a clear or an import shows a message stripped of its marks."""
    memory = memory_on("user", "session")
    await memory.size()
    await race(engine, prefix, (role, role, 3 * ROUNDS), ("add", "a", ROUNDS), ("add", "b", ROUNDS))
    await assert_whole(engine, prefix, memory)


async def test_every_operation_racing_every_other_keeps_the_session_whole(
    memory_on: Make, engine: AsyncEngine, prefix: str
) -> None:
    """Four processes each run a random mix of every write on one session.

    Two call through the engine, two through an ``AsyncSession`` per call.
    """
    memory = memory_on("user", "session")
    await memory.size()
    roles = ("mix", "mix-requests")
    await race(engine, prefix, *[(roles[n % 2], f"x{n}", 2 * ROUNDS) for n in range(4)])
    await assert_whole(engine, prefix, memory)
