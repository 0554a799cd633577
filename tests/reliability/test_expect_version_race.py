"""Guarantee: writes guarded by ``expect_version`` from eight processes apply one at a time.

Eight processes race on one session, each reading the version and writing
one message guarded by it (an ``add``, or a batch that also sets the state
slot). Whatever the interleaving, every write that was acknowledged is
stored exactly once, no refused write is stored, each process's applied and
refused writes add up to what it sent, no two applied writes expected the
same version, and the session holds them in the order of those versions.
The race runs as processes on every shared row; the in-process memory, which
cannot share a session across processes, races tasks of one event loop.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.backends import Backend, usable
from tests.reliability.harness.figures import record
from tests.reliability.harness.sizes import Size, sizes
from tests.reliability.harness.store import RELIABILITY_BACKENDS, open_store
from tests.reliability.harness.version_race import (
    SESSION,
    RacePlan,
    race_problems,
    run_race,
    run_race_tasks,
)


@pytest.fixture(params=[b.param() for b in RELIABILITY_BACKENDS])
def backend_row(request: pytest.FixtureRequest) -> Backend:
    """Each backend of the runs, resolved and answering."""
    return usable(request, request.param)


@sizes(
    ci={"processes": 8, "attempts": 25, "seconds": 90},
    full={"processes": 8, "attempts": 500, "seconds": 600},
)
async def test_expect_version_race(backend_row: Backend, size: Size) -> None:
    async with open_store(backend_row) as store:
        plan = RacePlan(
            backend=backend_row,
            tag=store.tag,
            processes=size["processes"],
            attempts=size["attempts"],
            seconds=size["seconds"],
        )
        started = time.perf_counter()
        if backend_row.shared:
            reports = await asyncio.to_thread(run_race, plan)
        else:
            reports = await run_race_tasks(store, plan)
        wall = time.perf_counter() - started
        memory = await store.make("u", SESSION)
        final = await memory.export_state()
        stored = [d["id"] for d, _ in final["content"]]
        problems = race_problems(reports, stored)
        applied = sorted((v, i) for r in reports for i, v in r.applied)
        batches = {i for r in reports for i in r.batches}
        last_batch = next((i for _, i in reversed(applied) if i in batches), None)
        errors = [e for r in reports for e in r.errors]
        record(
            "expect_version_race",
            backend_row.id,
            size.name,
            processes=plan.processes if backend_row.shared else 0,
            attempted=sum(r.attempted for r in reports),
            applied=len(applied),
            refused=sum(len(r.refused) for r in reports),
            errors=len(errors),
            problems=sum(len(v) for v in problems.values()),
            seconds=round(wall, 1),
            examples=errors[:3] + [x for v in problems.values() for x in v][:3],
        )
        assert sorted(r.worker for r in reports) == list(range(plan.processes))
        assert errors == []
        assert sum(r.attempted for r in reports) == plan.processes * plan.attempts
        assert problems == {
            "not_stored_once": [],
            "refused_but_stored": [],
            "stored_unknown": [],
            "miscounted": [],
            "same_version_twice": [],
            "order": [],
        }
        assert applied, "no write applied: the race proved nothing"
        expected_state = None if last_batch is None else {"last": last_batch}
        assert final.get("_session_state") == expected_state
