"""Two operations on one session at the same moment, from two processes, against a model.

Every operation of the contract is a named :data:`OPS` entry with fixed
arguments. A round puts the session in the state :func:`start_state`, then
two worker processes (each with its own memory on the same session) wait at
one barrier and run their operation the moment it opens, so the two really
overlap. The final state and both return values must equal what one of the
two serial orders gives on the in-process memory (:func:`serial_outcomes`);
a read therefore returns the state before the other call or after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from memmark.core import InMemoryMemory, MemoryBase, Msg
from tests.backends import Backend
from tests.reliability.harness.store import open_store

SESSION = "pairs"
STAMP = "2026-01-15 12:00:00.000"


def _msg(mid: str, text: str) -> Msg:
    msg = Msg("rel", text, "user", timestamp=STAMP, metadata={"n": mid})
    msg.id = mid
    return msg


def start_state() -> dict[str, Any]:
    """The session every round starts from: six messages, marks overlapping, a summary."""
    marks = (["a", "b"], ["a"], ["b"], [], ["a", "c"], ["c"])
    return {
        "content": [[_msg(f"m{i}", f"start {i}").to_dict(), m] for i, m in enumerate(marks)],
        "_compressed_summary": "start summary",
        "_session_state": {"turn": 1, "plan": ["look", "answer"]},
    }


def _other_state() -> dict[str, Any]:
    """What ``import_state`` puts in: shares one id (m1) with the start, its own summary."""
    return {
        "content": [
            [_msg("i0", "imported 0").to_dict(), ["a"]],
            [_msg("m1", "imported m1").to_dict(), ["b", "d"]],
        ],
        "_compressed_summary": "imported summary",
    }


Op = Callable[[MemoryBase], Awaitable[Any]]


async def _has_version(memory: MemoryBase) -> bool:
    return await memory.version() > 0


async def _page(memory: MemoryBase) -> Any:
    page = await memory.get_page(limit=3, exclude_mark="c")
    return (canonical(page.messages), page.has_more)


async def _pop(memory: MemoryBase) -> Any:
    popped = await memory.pop()
    return None if popped is None else canonical([popped])


async def _batch(memory: MemoryBase) -> Any:
    result = await (
        memory.batch()
        .add([_msg("b1", "batch 1"), _msg("m5", "dup")], marks="a")
        .delete(["m3"])
        .update_messages_mark("h", msg_ids=["m0", "b1", "n1"])
        .upsert(_msg("m4", "batch replaced 4"))
        .set_session_state({"turn": 3, "by": "batch"})
        .commit()
    )
    return tuple(result.results)


async def final_state(memory: MemoryBase) -> Any:
    """The session's state after a round, canonical: its content and whether it exists."""
    return (canonical(await memory.export_state()), await _has_version(memory))


# Each operation with fixed arguments chosen to meet the others: ids that the
# start holds, the import holds and the adds bring; marks that the adds put
# and the re-marks and deletes select.
OPS: dict[str, Op] = {
    "add_marked": lambda m: m.add(
        [_msg("n1", "new 1"), _msg("m1", "dup"), _msg("n2", "new 2")], ["a", "d"]
    ),
    "add_plain": lambda m: m.add([_msg("p1", "plain 1"), _msg("p2", "plain 2")]),
    "delete": lambda m: m.delete(["m1", "m2", "n1", "p1", "i0"]),
    "delete_by_mark": lambda m: m.delete_by_mark("a"),
    "clear": lambda m: m.clear(),
    "remark_replace": lambda m: m.update_messages_mark("e", old_mark="a"),
    "remark_add": lambda m: m.update_messages_mark("f"),
    "remark_remove": lambda m: m.update_messages_mark(None, old_mark="b"),
    "remark_ids": lambda m: m.update_messages_mark("g", msg_ids=["m0", "m3", "n1", "p2", "i0"]),
    "summary": lambda m: m.update_compressed_summary("new summary"),
    "import_state": lambda m: m.import_state(_other_state()),
    "get_memory": lambda m: m.get_memory(),
    "get_by_mark": lambda m: m.get_memory(mark="a", exclude_mark="c"),
    "size": lambda m: m.size(),
    "export_state": lambda m: m.export_state(),
    "delete_session": lambda m: m.delete_session(),
    # A version is the store's own number: what a model can say is whether there is one.
    "version": lambda m: _has_version(m),
    # Contract v2.
    "upsert": lambda m: m.upsert([_msg("m2", "upserted 2"), _msg("u1", "upserted new")], "d"),
    "pop": _pop,
    "get_page": _page,
    "get_messages": lambda m: m.get_messages(["m0", "m4", "n1", "u1", "b1"]),
    "session_state": lambda m: m.set_session_state({"turn": 2, "plan": []}),
    "batch": _batch,
}
"""Every operation the hunt runs, by name."""


def canonical(value: Any) -> Any:
    """Return a comparable, picklable form of a return value or a state.

    Marks are a set per message; message order, content and the summary count.
    A read's messages are compared without their ids: the summary message at
    its head gets a fresh id at every read (every other content is unique).
    """
    if isinstance(value, dict) and "content" in value:
        return (
            tuple(
                (d["id"], d["role"], d["content"], tuple(sorted(marks)))
                for d, marks in value["content"]
            ),
            value.get("_compressed_summary", ""),
            repr(value.get("_session_state")),
        )
    if isinstance(value, list):
        return tuple((m.name, m.role, m.content) for m in value)
    return value


Outcome = tuple[Any, Any, Any]
"""``(final state, A's return value, B's return value)``, each canonical."""


async def _serial(first: str, second: str, a_first: bool) -> Outcome:
    model = InMemoryMemory()
    await model.import_state(start_state())
    one = canonical(await OPS[first](model))
    two = canonical(await OPS[second](model))
    final = await final_state(model)
    return (final, one, two) if a_first else (final, two, one)


async def serial_outcomes(a: str, b: str) -> list[Outcome]:
    """Return the outcomes of A then B and of B then A on the in-process memory."""
    return [await _serial(a, b, True), await _serial(b, a, False)]


@dataclass(frozen=True)
class Worker:
    """What a worker process needs (picklable): the store and its place at the barrier."""

    backend: Backend
    tag: str


async def _worker_main(worker: Worker, conn: Any, barrier: Any) -> None:
    async with open_store(worker.backend, tag=worker.tag, wipe=False) as store:
        memory = await store.make("u", SESSION)
        conn.send(("ready", None))
        while True:
            command = conn.recv()
            if command is None:
                return
            op = OPS[command]
            try:
                barrier.wait(timeout=60)
            except Exception as exc:  # a broken barrier: the round is void
                conn.send(("error", f"barrier: {type(exc).__name__}"))
                continue
            try:
                result = canonical(await op(memory))
            except Exception as exc:
                conn.send(("error", f"{command}: {type(exc).__name__}: {exc!s:.200}"))
                continue
            conn.send(("ok", result))


def worker_entry(worker: Worker, conn: Any, barrier: Any) -> None:
    """Entry point of a worker process: run operations as the test sends their names."""
    try:
        asyncio.run(_worker_main(worker, conn, barrier))
    except BaseException as exc:  # the test must hear of a crashed worker
        conn.send(("crashed", f"{type(exc).__name__}: {exc}"))


class Pair:
    """Two worker processes on one session, meeting at a barrier for each round.

    Spawned, not forked: a forked child would inherit the parent's event
    loop and open connections.
    """

    def __init__(self, backend: Backend, tag: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.barrier = ctx.Barrier(2)
        self.conns: list[Any] = []
        self.procs: list[Any] = []
        for _ in range(2):
            here, there = ctx.Pipe()
            proc = ctx.Process(
                target=worker_entry, args=(Worker(backend, tag), there, self.barrier), daemon=True
            )
            proc.start()
            self.conns.append(here)
            self.procs.append(proc)
        for conn in self.conns:
            self._receive(conn, 120)

    @staticmethod
    def _receive(conn: Any, seconds: float) -> tuple[str, Any]:
        if not conn.poll(seconds):
            raise TimeoutError(f"a worker did not answer in {seconds} s")
        status, value = conn.recv()
        if status == "crashed":
            raise RuntimeError(f"a worker crashed: {value}")
        return status, value

    def run(self, a: str, b: str) -> tuple[tuple[str, Any], tuple[str, Any]]:
        """Run ``a`` in the first process and ``b`` in the second, at once; return both results."""
        self.conns[0].send(a)
        self.conns[1].send(b)
        return self._receive(self.conns[0], 90), self._receive(self.conns[1], 90)

    def close(self) -> None:
        """Stop both workers (killed if they do not stop in time)."""
        for conn in self.conns:
            with contextlib.suppress(OSError):  # the worker is gone already
                conn.send(None)
        deadline = time.monotonic() + 30
        for proc in self.procs:
            proc.join(timeout=max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
