"""Worker processes of the concurrency run: writers, readers, re-markers, deleters.

Every add writes one *batch* of messages carrying the same marks, so any read
that holds part of a batch saw a half-applied add, delete or re-mark: that is
how a read that was not a consistent snapshot shows. Message ids hold the
writer and its sequence number, so a read also shows order inversions.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from memmark.core import MemoryBase, Msg
from tests.backends import Backend
from tests.reliability.harness.store import Store, open_store

SESSION = "concurrency"
SHARED_EVERY = 10  # one add in ten is a shared id that every writer also adds


@dataclass(frozen=True)
class Plan:
    """What one concurrency run does (picklable, sent to every process).

    Attributes:
        backend: The resolved backend.
        tag: The store tag (user-id prefix) all processes share.
        writers: Writer processes.
        adds: Adds per writer.
        batch: Messages per add.
        seconds: Bound on the run's wall time; workers stop at it.
        seed: Seed of the writers' choices.
    """

    backend: Backend
    tag: str
    writers: int
    adds: int
    batch: int
    seconds: float
    seed: int = 7


def msg_id(writer: int, seq: int, part: int) -> str:
    """Return the id of ``part`` of writer ``writer``'s add number ``seq``."""
    return f"w{writer}-{seq:06d}-{part}"


def shared_id(seq: int) -> str:
    """Return the id of the ``seq``-th shared message (added by every writer)."""
    return f"shared-{seq:06d}"


def batch_of(mid: str) -> str:
    """Return the batch a message id belongs to (a shared message is its own)."""
    return mid if mid.startswith("shared-") else mid.rsplit("-", 1)[0]


def kind_of(writer: int, seq: int, seed: int) -> str:
    """Return ``"shared"``, ``"doomed"``, ``"movable"`` or ``"plain"`` for one add."""
    if seq % SHARED_EVERY == SHARED_EVERY - 1:
        return "shared"
    r = random.Random(seed * 1_000_003 + writer * 10_007 + seq).random()
    return "doomed" if r < 0.1 else "movable" if r < 0.3 else "plain"


@dataclass
class Report:
    """What one process saw (returned to the test)."""

    role: str
    acked: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    reads: int = 0
    inconsistent: list[str] = field(default_factory=list)
    inversions: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


def check_read(msgs: list[Msg], batch: int, report: Report, what: str) -> None:
    """Check one read: no repeated id, writers' order kept, no part of a batch."""
    report.reads += 1
    ids = [m.id for m in msgs]
    if len(set(ids)) != len(ids):
        report.duplicates.append(f"{what}: {len(ids) - len(set(ids))} repeated ids")
    last: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for mid in ids:
        b = batch_of(mid)
        sizes[b] = sizes.get(b, 0) + 1
        if mid.startswith("shared-"):
            continue
        writer = mid.split("-", 1)[0]
        if writer in last and last[writer] > mid:
            report.inversions.append(f"{what}: {last[writer]} before {mid}")
        last[writer] = mid
    for b, n in sizes.items():
        if not b.startswith("shared-") and n != batch:
            report.inconsistent.append(f"{what}: {n} of {batch} messages of batch {b}")


async def _writer(memory: MemoryBase, plan: Plan, writer: int, report: Report) -> None:
    deadline = time.monotonic() + plan.seconds
    for seq in range(plan.adds):
        if time.monotonic() > deadline:
            break
        kind = kind_of(writer, seq, plan.seed)
        if kind == "shared":
            msgs = [Msg("w", f"shared {seq}", "user")]
            msgs[0].id = shared_id(seq)
            marks = ["shared"]
        else:
            msgs = []
            for part in range(plan.batch):
                m = Msg("w", f"writer {writer} add {seq} part {part}", "user")
                m.id = msg_id(writer, seq, part)
                msgs.append(m)
            marks = [f"w{writer}", kind]
        t0 = time.perf_counter()
        try:
            await memory.add(msgs, marks)
        except Exception as exc:  # an unacknowledged add: not counted as lost
            report.errors.append(f"add: {type(exc).__name__}: {exc!s:.120}")
            continue
        report.latencies.append(time.perf_counter() - t0)
        report.calls += 1
        report.acked += [m.id for m in msgs]
        await asyncio.sleep(0)  # let tasks sharing the loop (in-process run) interleave


async def _loop(
    stop: Any, plan: Plan, report: Report, step: Callable[[int], Awaitable[None]]
) -> None:
    deadline = time.monotonic() + plan.seconds
    i = 0
    # At least one round, even when the writers finished before this process
    # was up: every role is measured.
    while i == 0 or (not stop.is_set() and time.monotonic() < deadline):
        t0 = time.perf_counter()
        try:
            await step(i)
        except Exception as exc:
            report.errors.append(f"{report.role}: {type(exc).__name__}: {exc!s:.120}")
        report.latencies.append(time.perf_counter() - t0)
        report.calls += 1
        i += 1
        await asyncio.sleep(0)


async def run_role(memory: MemoryBase, plan: Plan, role: str, index: int, stop: Any) -> Report:
    """Run one role on ``memory`` until done (writers) or until ``stop`` is set."""
    report = Report(role=f"{role}{index}")
    report.started = time.time()
    if role == "writer":
        await _writer(memory, plan, index, report)
    elif role == "reader":

        async def read(i: int) -> None:
            # Whole reads are costly on long sessions; most reads are by mark
            # or the newest page, as an agent's would be.
            choice = i % 4
            if choice == 0:
                got, what = await memory.get_memory(mark="movable"), "mark=movable"
            elif choice == 1:
                got, what = await memory.get_memory(limit=200), "limit=200"
            elif choice == 2:
                w = i % plan.writers
                got, what = await memory.get_memory(mark=f"w{w}"), f"mark=w{w}"
            else:
                got, what = await memory.get_memory(exclude_mark="plain"), "exclude=plain"
            if choice == 1:
                # The newest page may start inside a batch. Concurrent adds
                # can interleave their seqs (PostgreSQL's sequence and
                # InnoDB's auto-increment hand out numbers to each statement
                # as it runs), so a cut batch need not be the first one on
                # the page: leave out every batch with a message among the
                # first few, as many as the writers could interleave.
                zone = {batch_of(m.id) for m in got[: 2 * plan.writers * plan.batch]}
                got = [m for m in got if batch_of(m.id) not in zone]
            check_read(got, plan.batch, report, what)

        await _loop(stop, plan, report, read)
    elif role == "remarker":

        async def remark(i: int) -> None:
            if i % 2 == 0:
                await memory.update_messages_mark("moved", old_mark="movable")
            else:
                await memory.update_messages_mark("movable", old_mark="moved")

        await _loop(stop, plan, report, remark)
    elif role == "deleter":

        async def delete(i: int) -> None:
            await memory.delete_by_mark("doomed")

        await _loop(stop, plan, report, delete)
    report.finished = time.time()
    return report


async def _process_main(plan: Plan, role: str, index: int, stop: Any) -> Report:
    async with open_store(plan.backend, tag=plan.tag, wipe=False) as store:
        memory = await store.make("u", SESSION)
        return await run_role(memory, plan, role, index, stop)


def process_entry(plan: Plan, role: str, index: int, stop: Any, out: Any) -> None:
    """Entry point of a worker process: run one role, put its :class:`Report` on ``out``."""
    try:
        report = asyncio.run(_process_main(plan, role, index, stop))
    except BaseException as exc:  # the test must hear of a crashed worker
        report = Report(role=f"{role}{index}", errors=[f"crashed: {type(exc).__name__}: {exc}"])
    out.put(report)


ROLES = (("reader", 2), ("remarker", 1), ("deleter", 1))


def run_processes(plan: Plan) -> list[Report]:
    """Start the writers and the other roles as processes; return their reports.

    Spawned, not forked: a forked child would inherit the parent's event
    loop and open connections.
    """
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    out = ctx.Queue()
    roles = [("writer", w) for w in range(plan.writers)]
    roles += [(role, i) for role, n in ROLES for i in range(n)]
    procs = [
        ctx.Process(target=process_entry, args=(plan, role, i, stop, out), daemon=True)
        for role, i in roles
    ]
    for p in procs:
        p.start()
    reports: list[Report] = []
    deadline = time.monotonic() + plan.seconds + 120
    try:
        while len(reports) < len(procs) and time.monotonic() < deadline:
            try:
                report = out.get(timeout=1)
            except Exception:  # queue.Empty: keep waiting, bounded by the deadline
                continue
            reports.append(report)
            writers_done = sum(r.role.startswith("writer") for r in reports)
            if writers_done == plan.writers:
                stop.set()
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
    return reports


async def run_tasks(store: Store, plan: Plan) -> list[Report]:
    """The same roles as tasks of one event loop (the in-process memory's case)."""
    stop = asyncio.Event()
    memory = await store.make("u", SESSION)

    async def writer(w: int) -> Report:
        return await run_role(memory, plan, "writer", w, stop)

    writers = [asyncio.ensure_future(writer(w)) for w in range(plan.writers)]
    others = [
        asyncio.ensure_future(run_role(memory, plan, role, i, stop))
        for role, n in ROLES
        for i in range(n)
    ]
    reports = list(await asyncio.gather(*writers))
    stop.set()
    reports += await asyncio.gather(*others)
    return reports
