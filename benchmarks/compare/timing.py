"""Timing and reporting of the comparison: calls side by side, rows, the table.

Each backend section measures the operations of ``benchmarks/operations.py``
side by side (peer and memmark in the same process, interleaved call by call,
so machine noise hits both alike) with :func:`compare_rows`. A row may carry
a floor (``benchmarks/compare/floors.py``): the bare client doing the least
the operation's work could cost, timed in the same loop between the same
calls. A row reads as "× peer" (the peer's time over memmark's: above 1,
memmark is faster) and "× floor" (memmark's time over the floor's: 1.0 is
as fast as the bare client).
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.compare.floors import Floor
from benchmarks.corpus import Corpus
from benchmarks.operations import OPERATIONS, Operation, Side

Call = Callable[[], Awaitable[Any]]


@dataclass
class Config:
    """What to measure: session size, rounds per operation, and the corpus of this pass."""

    messages: int = 1000
    rounds: int = 200
    corpus: Corpus = field(default_factory=Corpus)


@dataclass
class Row:
    """One line of the table: an operation on a backend, peer vs memmark vs floor (µs).

    Attributes:
        operation: The operation's name (``benchmarks/operations.py``).
        backend: The backend column.
        shape: The corpus shape of the pass.
        peer_us: The peer's median µs (``None``: no peer).
        memmark_us: memmark's median µs.
        note: Free text (the floor's kind, an adapter's share).
        floor_us: The bare client's median µs for the same work (``None``: no floor).
    """

    operation: str
    backend: str
    shape: str
    peer_us: float | None
    memmark_us: float
    note: str = ""
    floor_us: float | None = None

    @property
    def ratio(self) -> float | None:
        """How many times faster memmark is than the peer (``None`` without a peer)."""
        if self.peer_us is None:
            return None
        return self.peer_us / self.memmark_us

    @property
    def over_floor(self) -> float | None:
        """memmark's time in units of the floor's (``None`` without a floor)."""
        if self.floor_us is None:
            return None
        return self.memmark_us / self.floor_us


@dataclass
class Table:
    """The rows measured so far, printed as they come and again, by shape, at the end."""

    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> None:
        """Record ``row`` and print it at once, as progress."""
        self.rows.append(row)
        print(self.format_row(row), flush=True)

    @staticmethod
    def header() -> str:
        """Return the table's header lines."""
        return (
            f"| {'operation':<28} | {'backend':<18} | {'peer µs':>10} | "
            f"{'memmark µs':>10} | {'floor µs':>10} | {'× peer':>7} | {'× floor':>7} | note |\n"
            f"|{'-' * 30}|{'-' * 20}|{'-' * 11}:|{'-' * 11}:|{'-' * 11}:|{'-' * 8}:|"
            f"{'-' * 8}:|------|"
        )

    @staticmethod
    def format_row(row: Row) -> str:
        """Return ``row`` as a Markdown table line."""
        peer = "—" if row.peer_us is None else _us(row.peer_us)
        floor = "—" if row.floor_us is None else _us(row.floor_us)
        ratio = "—" if row.ratio is None else f"{row.ratio:,.1f}×"
        over = "—" if row.over_floor is None else f"{row.over_floor:,.2f}×"
        return (
            f"| {row.operation:<28} | {row.backend:<18} | {peer:>10} | "
            f"{_us(row.memmark_us):>10} | {floor:>10} | {ratio:>7} | {over:>7} | {row.note} |"
        )

    def by_shape(self, shape: str) -> str:
        """Return the rows of one corpus shape as a whole Markdown table."""
        lines = [self.header()]
        lines += [self.format_row(r) for r in self.rows if r.shape == shape]
        return "\n".join(lines)


def _us(value: float) -> str:
    """Return µs with one decimal, or two below 10 µs (sub-microsecond calls stay readable)."""
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}"


def progress(text: str) -> None:
    """Print a progress line on stderr, out of the table's way."""
    print(f"  .. {text}", file=sys.stderr, flush=True)


async def _time_once(call: Call, setup: Call | None, batch: int = 1) -> float:
    if setup is not None:
        await setup()
    if batch == 1:
        start = time.perf_counter()
        await call()
        return (time.perf_counter() - start) * 1e6
    start = time.perf_counter()
    for _ in range(batch):
        await call()
    return (time.perf_counter() - start) * 1e6 / batch


async def interleaved(
    calls: list[tuple[Call, Call | None]], *, rounds: int, warmup: int = 3, batch: int = 1
) -> list[float]:
    """Time several calls in turn, round after round; return each one's median cost in µs.

    Each round runs every call once, starting one further along each time,
    so no call always runs first (on cold caches) or right after the same
    neighbour.

    Args:
        calls: Each call with its untimed setup (or ``None``).
        rounds: How many timed calls of each.
        warmup: Untimed calls of each first.
        batch: Calls per timed sample, for calls of a microsecond or less
            (the clock and the loop around one call cost about as much as
            the call); the sample is their mean. Only for calls without setup.
    """
    if batch > 1 and any(setup is not None for _, setup in calls):
        raise ValueError("batch: only calls without setup can be timed in batches")
    for _ in range(warmup):
        for call, setup in calls:
            await _time_once(call, setup, batch)
    times: list[list[float]] = [[] for _ in calls]
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection landing on one call only would skew the set
    try:
        for i in range(rounds):
            for k in range(len(calls)):
                j = (i + k) % len(calls)
                call, setup = calls[j]
                times[j].append(await _time_once(call, setup, batch))
            if i % 50 == 49:
                gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    return [statistics.median(t) for t in times]


async def side_by_side(
    peer: Call | None,
    ours: Call,
    *,
    rounds: int,
    peer_setup: Call | None = None,
    our_setup: Call | None = None,
    warmup: int = 3,
) -> tuple[float | None, float]:
    """Time two calls alternately and return their median cost in µs.

    Args:
        peer: The peer's call, or ``None`` when there is no peer to compare.
        ours: memmark's call (or a floor's).
        rounds: How many timed calls of each.
        peer_setup: Untimed work before each peer call (e.g. re-add what it deletes).
        our_setup: Untimed work before each memmark call.
        warmup: Untimed calls of each first.
    """
    if peer is None:
        (us,) = await interleaved([(ours, our_setup)], rounds=rounds, warmup=warmup)
        return None, us
    peer_us, us = await interleaved(
        [(peer, peer_setup), (ours, our_setup)], rounds=rounds, warmup=warmup
    )
    return peer_us, us


def _bound(step: Any, side: Side) -> Any:
    """Return ``step`` bound to ``side`` as a call of no arguments (``None`` stays ``None``)."""
    if step is None:
        return None
    return lambda: step(side)


async def compare_rows(
    table: Table,
    cfg: Config,
    backend: str,
    peer: Side,
    ours: Side,
    *,
    rounds: int | None = None,
    floors: dict[str, Floor] | None = None,
    before_rows: Call | None = None,
    after: dict[str, Call] | None = None,
    batches: dict[str, int] | None = None,
    only: frozenset[str] | None = None,
) -> None:
    """Fill both sessions, then time every operation on both, one row each.

    Args:
        table: Where the rows go.
        cfg: Session size, rounds and corpus.
        backend: The backend column of the rows.
        peer: The peer's side (its memory, message class, corpus).
        ours: memmark's side.
        rounds: Timed calls per row (default: ``cfg.rounds``).
        floors: Per operation slug, the bare client's floor of its row, timed
            in the same loop as the peer's and memmark's calls.
        before_rows: Untimed work once the sessions are filled (e.g. ANALYZE).
        after: Per operation slug, untimed work after its row (e.g. VACUUM).
        batches: Per operation slug, calls per timed sample (see
            :func:`interleaved`), the same on both sides: for reads of well
            under a microsecond. Not for calls that allocate much: with the
            collector off, a batch's garbage piles up and slows its later calls.
        only: The slugs of the operations to time (default: all of them).
    """
    rounds = cfg.rounds if rounds is None else rounds
    shape = cfg.corpus.shape
    progress(f"{backend}: filling two sessions of {cfg.messages} {shape} messages")
    await peer.fill(cfg.messages)
    await ours.fill(cfg.messages)
    if before_rows is not None:
        await before_rows()
    for op in OPERATIONS:
        if only is not None and op.slug not in only:
            continue
        floor = None if floors is None else floors.get(op.slug)
        batch = 1 if batches is None else batches.get(op.slug, 1)
        await _row(table, backend, shape, op, peer, ours, rounds, floor, batch)
        for side in (peer, ours):
            if op.finish is not None:
                await op.finish(side)
        if after and op.slug in after:
            await after[op.slug]()


async def _row(
    table: Table,
    backend: str,
    shape: str,
    op: Operation,
    peer: Side,
    ours: Side,
    rounds: int,
    floor: Floor | None = None,
    batch: int = 1,
) -> None:
    calls: list[tuple[Call, Call | None]] = [
        (lambda: op.call(peer), _bound(op.setup, peer)),
        (lambda: op.call(ours), _bound(op.setup, ours)),
    ]
    if floor is not None:
        calls.append((floor.call, floor.setup))
    times = await interleaved(calls, rounds=rounds, batch=batch)
    floor_us = times[2] if floor is not None else None
    note = floor.note if floor is not None else ""
    table.add(Row(op.name, backend, shape, times[0], times[1], note, floor_us))
