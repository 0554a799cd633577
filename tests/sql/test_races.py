"""Operations of several statements, raced by several processes on one session.

Each test runs one operation in a loop in one process while two others add
marked messages to the same session, then checks that the session is in a
state some serial order of the same calls could have left: a message added
while a re-mark, a clear or an import ran keeps its marks whole.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sql_support import backend_params
from sqlalchemy.ext.asyncio import AsyncEngine

from memmark.sql import AsyncSQLAlchemyMemory

Make = Callable[..., AsyncSQLAlchemyMemory]
RACER = Path(__file__).with_name("_racer.py")
ROUNDS = 60
BATCH = 20  # as _racer.py
pytestmark = pytest.mark.parametrize("backend", backend_params(("sqlite", "postgres", "mariadb")))


async def race(engine: AsyncEngine, prefix: str, role: str, rounds: int) -> None:
    """Run ``role`` ``rounds`` times in one process beside two adders of ROUNDS batches."""
    url = engine.url.render_as_string(hide_password=False)
    jobs = [(role, role, rounds), ("add", "a", ROUNDS), ("add", "b", ROUNDS)]
    start = str(time.time() + 4)  # time for the three to start and connect
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(RACER),
            url,
            prefix,
            job,
            name,
            str(n),
            start,
            stderr=subprocess.PIPE,
        )
        for job, name, n in jobs
    ]
    for proc in procs:
        _, err = await asyncio.wait_for(proc.communicate(), timeout=300)
        assert proc.returncode == 0, err.decode()


async def test_a_remark_racing_adds_leaves_each_message_one_of_the_two_marks(
    memory_on: Make, engine: AsyncEngine, prefix: str
) -> None:
    """Either order of a re-mark and an add leaves the message ``old`` or ``new``, never neither."""
    memory = memory_on("user", "session")
    await memory.size()  # tables exist before the racers start
    await race(engine, prefix, "remark", ROUNDS)
    state = await memory.export_state()
    assert len(state["content"]) == 2 * ROUNDS * BATCH
    wrong = [
        (data["id"], marks)
        for data, marks in state["content"]
        if sorted(marks) not in (["m", "new"], ["m", "old"])
    ]
    assert wrong == []


@pytest.mark.parametrize("role", ["clear", "import"])
async def test_a_replace_racing_adds_never_leaves_a_message_without_its_marks(
    memory_on: Make, engine: AsyncEngine, prefix: str, role: str
) -> None:
    """No snapshot after a clear or an import shows a message stripped of its marks.

    The racer that clears or imports reads the session after each call and
    fails on a message without the marks it was added with.
    """
    memory = memory_on("user", "session")
    await memory.size()
    await race(engine, prefix, role, 3 * ROUNDS)
