"""Guarantee 6: long sessions stay correct and quick, and no Redis script blocks the server.

A session is filled to its size (100,000 messages on every backend, and
1,000,000 on Redis, in the full run), then read whole, by mark and by limit,
half of it deleted by mark, and cleared. Each step is timed and checked. On
Redis a redis-server of the test's own (and the throwaway cluster) log every
command over 10 ms in SLOWLOG and answer BUSY to others once a script runs
past 50 ms; a second client pings all the while and counts BUSY replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from typing import Any, TypeVar

import psutil

from memmark.core import Msg
from tests.backends import Backend, redis_client
from tests.reliability.harness.figures import percentile, record
from tests.reliability.harness.sizes import Size, sizes
from tests.reliability.harness.store import Store, open_store
from tests.servers import redis_server

T = TypeVar("T")

SLOW_US = 10_000  # SLOWLOG threshold: log every command over 10 ms
BUSY_MS = 50  # a script running longer makes the server answer BUSY to others
BATCH = 100
_STAMP = "2026-01-15 12:00:00.000"


class Watch:
    """Pings the Redis nodes from a thread of its own while the session works.

    A thread, so the pings are not held up by the test's own event loop
    decoding a long read: what it measures is the servers' responsiveness.
    """

    def __init__(self, addresses: list[tuple[str, int]]) -> None:
        self.addresses = addresses
        self.busy = 0
        self.errors: list[str] = []
        self.pings = 0
        self.worst_ms = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import redis

        clients = [redis.Redis(host=h, port=p, socket_timeout=10) for h, p in self.addresses]
        try:
            while not self.stop.wait(0.005):  # ping cadence
                for client in clients:
                    t0 = time.perf_counter()
                    try:
                        client.ping()
                    except Exception as exc:
                        if "BUSY" in str(exc):
                            self.busy += 1
                        else:
                            self.errors.append(f"{type(exc).__name__}: {exc}")
                    self.pings += 1
                    self.worst_ms = max(self.worst_ms, (time.perf_counter() - t0) * 1000)
        finally:
            for client in clients:
                client.close()

    def __enter__(self) -> Watch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


async def _node_clients(url: str) -> list[Any]:
    if not url.startswith("redis+cluster://"):
        return [redis_client(url)]
    probe = redis_client(url.replace("redis+cluster://", "redis://"))
    try:
        listing = await probe.execute_command("CLUSTER", "NODES")
    finally:
        await probe.aclose()
    if isinstance(listing, bytes):
        listing = listing.decode()
    addresses = [line.split()[1].split("@")[0] for line in listing.splitlines()]
    return [redis_client(f"redis://{a}") for a in addresses]


@contextlib.asynccontextmanager
async def scale_target(backend: Backend) -> AsyncIterator[tuple[Backend, list[Any]]]:
    """Yield the backend to measure (Redis: an own server) and its nodes' clients."""
    if backend.id == "redis":
        extra = (
            "--slowlog-log-slower-than", str(SLOW_US),
            "--slowlog-max-len", "4096",
            "--busy-reply-threshold", str(BUSY_MS),
        )  # fmt: skip
        with redis_server("none", extra) as server:
            nodes = await _node_clients(server.url)
            try:
                yield replace(backend, url=server.url), nodes
            finally:
                for n in nodes:
                    await n.aclose()
        return
    if backend.id == "redis-cluster":
        nodes = await _node_clients(backend.url)
        try:
            for n in nodes:
                # The throwaway cluster is this run's own; the settings go back after.
                await n.config_set("slowlog-log-slower-than", SLOW_US)
                await n.config_set("busy-reply-threshold", BUSY_MS)
                await n.slowlog_reset()
            yield backend, nodes
        finally:
            for n in nodes:
                await n.config_set("slowlog-log-slower-than", 10_000)
                await n.config_set("busy-reply-threshold", 5_000)
                await n.aclose()
        return
    yield backend, []


async def _slowest_scripts(nodes: list[Any]) -> tuple[float, int, str]:
    """Return the longest script run in ms, how many ran over ``BUSY_MS``, and its script.

    Read from SLOWLOG; the script is named from the SHA its ``EVALSHA`` carried.
    """
    from memmark.redis._scripts import scripts

    names = {s.sha: name for name, s in scripts().items()}
    worst = 0.0
    worst_name = ""
    over = 0
    for n in nodes:
        for entry in await n.slowlog_get(4096):
            command = entry.get("command", b"")
            if isinstance(command, bytes):
                command = command.decode(errors="replace")
            if not command.upper().startswith(("EVAL", "FCALL")):
                continue
            ms = entry["duration"] / 1000
            if ms > worst:
                parts = command.split()
                worst, worst_name = ms, names.get(parts[1] if len(parts) > 1 else "", "EVAL")
            over += ms > BUSY_MS
    return worst, over, worst_name


def _rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


class Timer:
    """Latencies per step, and the process's peak RSS seen between steps."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.base = _rss_mb()
        self.peak = self.base
        self.timeouts: list[str] = []

    async def step(self, name: str, call: Awaitable[T], limit: float) -> T:
        """Run one timed step, bounded by ``limit`` seconds."""
        t0 = time.perf_counter()
        try:
            return await asyncio.wait_for(call, limit)
        finally:
            self.times.setdefault(name, []).append(time.perf_counter() - t0)
            self.peak = max(self.peak, _rss_mb())

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, values in self.times.items():
            out[name] = {
                "n": len(values),
                "p50_ms": round(percentile(values, 50) * 1000, 2),
                "p99_ms": round(percentile(values, 99) * 1000, 2),
            }
        return out


async def _fill(store: Store, n: int, timer: Timer, limit: float) -> Any:
    memory = await store.make("u", f"scale-{n}")
    await memory.clear()
    for start in range(0, n, BATCH):
        batch = []
        for i in range(start, min(n, start + BATCH)):
            m = Msg("scale", f"message {i} " + "x" * 40, "user", timestamp=_STAMP)
            m.id = f"m{i:07d}"
            batch.append(m)
        # Every other batch carries "half", so delete_by_mark removes half.
        marks = ["all", "half"] if (start // BATCH) % 2 == 0 else ["all"]
        await timer.step("add 100", memory.add(batch, marks), limit)
    return memory


async def _steps(store: Store, n: int, half: int, size: Size, timer: Timer) -> None:
    """Fill a session of ``n`` messages, read it three ways, delete half, clear; check each.

    A step over the time limit is recorded in ``timer.timeouts`` and the run
    goes on with the next kind of step, so one slow call does not hide the
    figures of the others.
    """
    limit = size["step_limit"]
    memory = await _fill(store, n, timer, limit)
    assert await memory.size() == n
    try:
        for _ in range(size["reads"]):
            got = await timer.step("get whole", memory.get_memory(), limit)
            assert len(got) == n
            assert got[0].id == "m0000000"
            assert got[-1].id == f"m{n - 1:07d}"
            del got
            gc.collect()
    except asyncio.TimeoutError:
        timer.timeouts.append("get whole")
    try:
        for _ in range(size["reads"]):
            got = await timer.step("get by mark", memory.get_memory(mark="half"), limit)
            assert len(got) == half
            del got
    except asyncio.TimeoutError:
        timer.timeouts.append("get by mark")
    try:
        for _ in range(10 * size["reads"]):
            got = await timer.step("get limit=50", memory.get_memory(limit=50), limit)
            assert [m.id for m in got][-1] == f"m{n - 1:07d}"
            assert len(got) == 50
    except asyncio.TimeoutError:
        timer.timeouts.append("get limit=50")
    try:
        removed = await timer.step("delete_by_mark half", memory.delete_by_mark("half"), limit)
        assert removed == half
        assert await memory.size() == n - half
    except asyncio.TimeoutError:
        timer.timeouts.append("delete_by_mark half")
    await timer.step("clear", memory.clear(), limit)
    assert await memory.size() == 0


@sizes(
    ci={"n": 2_000, "redis_n": 2_000, "reads": 3, "step_limit": 60},
    full={"n": 100_000, "redis_n": 1_000_000, "reads": 3, "step_limit": 120},
)
async def test_long_sessions(backend: Backend, size: Size) -> None:
    n = size["redis_n"] if backend.id == "redis" else size["n"]
    half = sum(min(BATCH, n - s) for s in range(0, n, 2 * BATCH))
    async with scale_target(backend) as (target, nodes), open_store(target) as store:
        addresses = [
            (
                node.connection_pool.connection_kwargs["host"],
                node.connection_pool.connection_kwargs["port"],
            )
            for node in nodes
        ]
        timer = Timer()
        started = time.perf_counter()
        with Watch(addresses) as watch:
            await _steps(store, n, half, size, timer)
        worst_script_ms, over, worst_script = (
            await _slowest_scripts(nodes) if nodes else (0.0, 0, "")
        )
    row = record(
        "scale",
        backend.id,
        size.name,
        messages=n,
        steps=timer.figures(),
        timed_out=timer.timeouts or None,
        step_limit_s=size["step_limit"],
        peak_rss_mb=round(timer.peak, 1),
        rss_growth_mb=round(timer.peak - timer.base, 1),
        slowest_script_ms=round(worst_script_ms, 2) if nodes else None,
        slowest_script=worst_script or None,
        scripts_over_50ms=over if nodes else None,
        busy_replies=watch.busy if nodes else None,
        worst_ping_ms=round(watch.worst_ms, 2) if nodes else None,
        seconds=round(time.perf_counter() - started, 1),
    )
    assert timer.timeouts == [], f"over {size['step_limit']} s: {timer.timeouts}"
    assert watch.errors == []
    if nodes:
        assert watch.busy == 0, row
        assert over == 0, (
            f"{over} script runs over {BUSY_MS} ms (slowest {worst_script_ms} ms: {worst_script})"
        )
