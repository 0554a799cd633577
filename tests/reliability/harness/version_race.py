"""Worker processes that race on one session with ``expect_version``.

Every process loops: it reads the session's version (from a page or from
``version()``), then writes one message guarded by that version: a plain
``add``, or now and then a batch that also sets the state slot. A write
either applies or is refused with ``VersionConflictError``; each process
reports which of its ids went which way, and the version each applied one
expected. Two applied writes can never have expected the same version (the
first moved it on), so sorting the applied ids by that version gives the
order the session must hold them in.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass, field
from typing import Any

from memmark.core import MemoryBase, Msg
from memmark.core.errors import VersionConflictError
from tests.backends import Backend
from tests.reliability.harness.store import Store, open_store

SESSION = "version-race"
BATCH_EVERY = 4  # one write in four is a batch that also sets the state slot


@dataclass(frozen=True)
class RacePlan:
    """What one race does (picklable, sent to every process).

    Attributes:
        backend: The resolved backend row; a shared one.
        tag: The store tag (user-id prefix) all processes share.
        processes: Racing processes.
        attempts: Guarded writes per process.
        seconds: Bound on the run's wall time; processes stop at it.
    """

    backend: Backend
    tag: str
    processes: int
    attempts: int
    seconds: float


@dataclass
class RaceReport:
    """What one racing process saw.

    Attributes:
        worker: Its index.
        applied: ``(message id, expected version)`` of every write that applied.
        refused: Ids of the writes refused with ``VersionConflictError``.
        attempted: How many guarded writes it sent.
        batches: Ids of the applied writes that were batches.
        errors: Anything else that was raised.
    """

    worker: int
    applied: list[tuple[str, int]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    attempted: int = 0
    batches: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def race_id(worker: int, seq: int) -> str:
    """Return the id of a worker's ``seq``-th message."""
    return f"w{worker}-{seq:05d}"


async def _read_version(memory: MemoryBase, seq: int) -> int:
    """The version to guard the next write with: from a page, or from ``version()``."""
    if seq % 2:
        return int((await memory.get_page(limit=1)).version)
    return await memory.version()


async def race(memory: MemoryBase, plan: RacePlan, worker: int) -> RaceReport:
    """Run one process's loop of guarded writes on ``memory``."""
    report = RaceReport(worker)
    deadline = time.monotonic() + plan.seconds
    for seq in range(plan.attempts):
        if time.monotonic() > deadline:
            break
        msg_id = race_id(worker, seq)
        message = Msg(f"worker {worker}", f"message {seq}", "user")
        message.id = msg_id
        try:
            version = await _read_version(memory, seq)
            report.attempted += 1
            # Let the others run between the read and the write, also where
            # a call never suspends (the in-process memory), so writes race.
            await asyncio.sleep(0)
            if seq % BATCH_EVERY == BATCH_EVERY - 1:
                batch = memory.batch(expect_version=version)
                await batch.add(message, "race").set_session_state({"last": msg_id}).commit()
                report.batches.append(msg_id)
            else:
                await memory.add(message, "race", expect_version=version)
        except VersionConflictError:
            report.refused.append(msg_id)
        except Exception as exc:  # the test must hear of anything else
            report.errors.append(f"{msg_id}: {type(exc).__name__}: {exc}")
        else:
            report.applied.append((msg_id, version))
    return report


async def _process_main(plan: RacePlan, worker: int, start: Any) -> RaceReport:
    async with open_store(plan.backend, tag=plan.tag, wipe=False) as store:
        memory = await store.make("u", SESSION)
        await memory.version()  # connect before the start line, not after it
        start.wait(timeout=60)
        return await race(memory, plan, worker)


def process_entry(plan: RacePlan, worker: int, start: Any, out: Any) -> None:
    """Entry point of a racing process: put its :class:`RaceReport` on ``out``."""
    try:
        report = asyncio.run(_process_main(plan, worker, start))
    except BaseException as exc:  # the test must hear of a crashed process
        report = RaceReport(worker, errors=[f"crashed: {type(exc).__name__}: {exc}"])
    out.put(report)


def run_race(plan: RacePlan) -> list[RaceReport]:
    """Start the racing processes together; return their reports.

    Spawned, not forked: a forked child would inherit the parent's event
    loop and open connections.
    """
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(plan.processes)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=process_entry, args=(plan, w, start, out), daemon=True)
        for w in range(plan.processes)
    ]
    for p in procs:
        p.start()
    reports: list[RaceReport] = []
    deadline = time.monotonic() + plan.seconds + 120
    try:
        while len(reports) < len(procs) and time.monotonic() < deadline:
            try:
                reports.append(out.get(timeout=1))
            except Exception:  # queue.Empty: keep waiting, bounded by the deadline
                continue
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
    return reports


async def run_race_tasks(store: Store, plan: RacePlan) -> list[RaceReport]:
    """The same race as tasks of one event loop, each with a handle of its own.

    For the in-process memory, which cannot share a session across processes.
    """
    handles = [await store.make("u", SESSION) for _ in range(plan.processes)]
    return list(await asyncio.gather(*(race(h, plan, w) for w, h in enumerate(handles))))


def race_problems(reports: list[RaceReport], stored: list[str]) -> dict[str, list[str]]:
    """Return what the stored ids say against the reports; every list empty when all is well.

    Args:
        reports: Every process's report.
        stored: The session's message ids at the end, in order.
    """
    applied = [pair for r in reports for pair in r.applied]
    applied_ids = {msg_id for msg_id, _ in applied}
    refused = {msg_id for r in reports for msg_id in r.refused}
    counts: dict[str, int] = {}
    for msg_id in stored:
        counts[msg_id] = counts.get(msg_id, 0) + 1
    by_version: dict[int, list[str]] = {}
    for msg_id, version in applied:
        by_version.setdefault(version, []).append(msg_id)
    return {
        "not_stored_once": sorted(i for i in applied_ids if counts.get(i) != 1),
        "refused_but_stored": sorted(i for i in refused if i in counts),
        "stored_unknown": sorted(i for i in counts if i not in applied_ids | refused),
        "miscounted": [
            f"worker {r.worker}: {len(r.applied)} + {len(r.refused)} != {r.attempted}"
            for r in reports
            if len(r.applied) + len(r.refused) != r.attempted
        ],
        "same_version_twice": [
            f"version {v}: {ids}" for v, ids in sorted(by_version.items()) if len(ids) > 1
        ],
        "order": []
        if [i for i, _ in sorted(applied, key=lambda p: p[1])] == stored
        else ["the stored order is not the order of the versions the writes expected"],
    }
