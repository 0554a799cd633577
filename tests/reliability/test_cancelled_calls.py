"""Guarantee 4: a cancelled call is applied whole or not at all, and leaves nothing behind.

``add``, ``delete_by_mark``, ``update_messages_mark`` and ``import_state``
are cancelled after swept delays (0 to twice their measured latency). After
each cancellation the session must equal either the state before the call or
the state the in-process reference memory reaches with the same call. A
probe task shares the memory's client the whole time and checks every reply
it gets against what it wrote: a reply meant for a cancelled call would show
there. At the end the pool has lent nothing out and the server holds no
connection the pool does not know of.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from memmark.core import InMemoryMemory, MemoryBase, Msg
from tests.backends import Backend
from tests.reliability.harness.figures import record
from tests.reliability.harness.known_bugs import expect_known_bug
from tests.reliability.harness.sizes import Size, sizes
from tests.reliability.harness.store import Store, open_store

OPS = ("add", "delete_by_mark", "update_messages_mark", "import_state")


def _msgs(prefix: str, n: int) -> list[Msg]:
    out = []
    for i in range(n):
        m = Msg("rel", f"{prefix} {i}", "user", timestamp="2026-01-15 12:00:00.000")
        m.id = f"{prefix}-{i}"
        out.append(m)
    return out


def _state(prefix: str, n: int) -> dict[str, Any]:
    """A session of ``n`` messages; the even ones carry ``old``, all carry ``base``."""
    return {
        "content": [
            [m.to_dict(), ["base", "old"] if i % 2 == 0 else ["base"]]
            for i, m in enumerate(_msgs(prefix, n))
        ]
    }


def _canonical(state: dict[str, Any]) -> Any:
    return [(d["id"], d["content"], tuple(sorted(marks))) for d, marks in state["content"]]


Call = Callable[[MemoryBase], Awaitable[Any]]


def _call(op: str, iteration: int, n: int) -> Call:
    if op == "add":
        batch = _msgs(f"new{iteration}", n // 2)
        return lambda m: m.add(batch, ["new", "x"])
    if op == "delete_by_mark":
        return lambda m: m.delete_by_mark("old")
    if op == "update_messages_mark":
        return lambda m: m.update_messages_mark("new", old_mark="old")
    other = _state(f"imp{iteration}", n)
    return lambda m: m.import_state(other)


async def _expected(start: dict[str, Any], call: Call) -> Any:
    ref = InMemoryMemory()
    await ref.import_state(start)
    await call(ref)
    return _canonical(await ref.export_state())


class Probe:
    """Reads a session of its own on the shared client, checking every reply."""

    def __init__(self, memory: MemoryBase, n: int) -> None:
        self.memory = memory
        self.expected = [f"probe-{i}" for i in range(n)]
        self.n = n
        self.calls = 0
        self.wrong: list[str] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        await self.memory.import_state(_state("probe", self.n))
        while not self.stop.is_set():
            got = await self.memory.get_memory(mark="base")
            size = await self.memory.size()
            self.calls += 2
            ids = [m.id for m in got]
            if ids != self.expected or size != self.n:
                self.wrong.append(f"probe read {ids[:3]}... size {size}")
            await asyncio.sleep(0)


def _unknown(stats: dict[str, int]) -> int:
    """Server connections the client holds no record of (-1: cannot tell)."""
    return -1 if stats["server"] == -1 else stats["server"] - stats["pooled"]


async def _settle(store: Store, baseline: dict[str, int]) -> Any:
    # A cancelled call's connection is closed or returned by callbacks that
    # run on the next loop turns; give them a bounded number of turns.
    stats = await store.connections()
    for _ in range(50):
        if stats["checked_out"] == 0 and _unknown(stats) <= _unknown(baseline):
            break
        await asyncio.sleep(0.02)
        stats = await store.connections()
    return stats


@pytest_asyncio.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    """A store whose SQLite engine waits 2 s for a lock, so a lock left behind fails fast."""
    kwargs = {"connect_args": {"timeout": 2}} if backend.id == "sqlite" else None
    async with open_store(backend, engine_kwargs=kwargs) as s:
        yield s


@sizes(ci={"per_op": 40, "n": 40, "steps": 10}, full={"per_op": 250, "n": 40, "steps": 25})
async def test_cancelled_calls_are_whole_or_absent(store: Store, size: Size) -> None:
    n, steps = size["n"], size["steps"]
    memory = await store.make("u", "cancel")
    checker = await store.make("u", "cancel")  # a second handle on the same session
    probe = Probe(await store.make("u", "probe"), n)
    await memory.size()  # open the first connections before the baseline
    baseline = await store.connections()
    probe_task = asyncio.create_task(probe.run())
    start = _state("base", n)
    start_canon = _canonical(start)
    per_op: dict[str, Counter[str]] = {op: Counter() for op in OPS}
    latency: dict[str, float] = {}
    partial: list[str] = []
    errors: list[str] = []
    started = time.perf_counter()
    try:
        for op in OPS:
            # Latency of the whole call, uncancelled: the sweep covers 0 to 2x it.
            times = []
            for k in range(5):
                await memory.import_state(start)
                call = _call(op, -1 - k, n)
                t0 = time.perf_counter()
                await call(memory)
                times.append(time.perf_counter() - t0)
            latency[op] = statistics.median(times)
            for k in range(size["per_op"]):
                if len(errors) >= 3:
                    break  # the store is broken; the figures already say so
                await memory.import_state(start)
                call = _call(op, k, n)
                want = await _expected(start, call)
                task = asyncio.ensure_future(call(memory))
                if k % 2 == 0:
                    # Cancel after a swept number of event-loop turns: each turn
                    # is one step of the call (a write, a read, a pool checkout),
                    # which a timer cannot aim at when the call takes 0.3 ms.
                    turns = k // 2 % (2 * steps)
                    delay = float(turns)
                    for _ in range(turns):
                        await asyncio.sleep(0)
                else:
                    delay = 2 * latency[op] * (k // 2 % steps) / (steps - 1)
                    await asyncio.sleep(delay)
                task.cancel()
                try:
                    await task
                    outcome = "completed"
                except asyncio.CancelledError:
                    outcome = "cancelled"
                except Exception as exc:
                    outcome = "error"
                    errors.append(f"{op}: {type(exc).__name__}: {exc!s:.100}")
                try:
                    got = _canonical(await checker.export_state())
                except Exception as exc:
                    errors.append(f"read after {op}: {type(exc).__name__}: {exc!s:.100}")
                    break
                if got == want:
                    per_op[op][f"{outcome}, applied"] += 1
                elif got == start_canon:
                    per_op[op][f"{outcome}, not applied"] += 1
                else:
                    partial.append(f"{op} cancelled at {delay:.4g}: {len(got)} messages")
    finally:
        probe.stop.set()
        await probe_task
    after = await _settle(store, baseline)
    record(
        "cancellation",
        store.backend.id,
        size.name,
        cancelled_calls=size["per_op"] * len(OPS),
        latency_ms={op: round(v * 1000, 3) for op, v in latency.items()},
        outcomes={op: dict(c) for op, c in per_op.items()},
        partial=len(partial),
        wrong_replies=len(probe.wrong),
        probe_calls=probe.calls,
        errors=len(errors),
        connections_before=baseline,
        connections_after=after,
        seconds=round(time.perf_counter() - started, 2),
        examples=(partial + probe.wrong + errors)[:5],
    )
    assert partial == []
    assert probe.wrong == []
    assert errors == []
    assert after["checked_out"] == 0
    # Every connection the server sees is one the client still holds (a
    # cluster client also keeps one to its startup node, in the baseline too).
    assert _unknown(after) <= _unknown(baseline), (baseline, after)
    with contextlib.suppress(Exception):
        await memory.clear()


async def test_cancelled_write_leaves_no_lock(store: Store, request: pytest.FixtureRequest) -> None:
    """Cancel adds after 0-30 loop turns, three times over; every next write must go through.

    A cancelled call must give its connection back clean: a transaction left
    open on a lost connection would hold SQLite's write lock (the store's
    busy timeout is 2 s) or a row lock on a server.
    """
    expect_known_bug(request, "cancel", store.backend.id)
    memory = await store.make("u", "cancel-lock")
    other = await store.make("u", "cancel-lock-2")
    failures: list[str] = []
    for k in range(93):
        task = asyncio.ensure_future(memory.add(_msgs(f"lock{k}", 20), "x"))
        for _ in range(k % 31):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            await other.add(_msgs(f"after{k}", 1), "y")
        except Exception as exc:
            failures.append(f"after {k % 31} turns: {type(exc).__name__}: {exc!s:.80}")
            break
    stats = await _settle(store, {"checked_out": 0, "pooled": 0, "server": 0})
    assert failures == []
    assert stats["checked_out"] == 0
