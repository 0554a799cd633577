"""Timing and reporting of the comparison: calls side by side, rows, the table.

Each backend section measures the operations of ``benchmarks/operations.py``
side by side (peer and memmark in the same process, interleaved call by call,
so machine noise hits both alike) with :func:`compare_rows`, and adds floors:
rows with no peer, the bare client doing the least it could.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

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
    """One line of the table: an operation on a backend, peer vs memmark (µs)."""

    operation: str
    backend: str
    shape: str
    peer_us: float | None
    memmark_us: float
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """How many times faster memmark is than the peer (``None`` without a peer)."""
        if self.peer_us is None:
            return None
        return self.peer_us / self.memmark_us


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
            f"| {'operation':<34} | {'backend':<18} | {'peer µs':>10} | "
            f"{'memmark µs':>10} | {'ratio':>8} | note |\n|{'-' * 36}|{'-' * 20}|"
            f"{'-' * 12}|{'-' * 12}|{'-' * 10}|------|"
        )

    @staticmethod
    def format_row(row: Row) -> str:
        """Return ``row`` as a Markdown table line."""
        peer = "—" if row.peer_us is None else f"{row.peer_us:,.1f}"
        ratio = "—" if row.ratio is None else f"{row.ratio:,.1f}×"
        return (
            f"| {row.operation:<34} | {row.backend:<18} | {peer:>10} | "
            f"{row.memmark_us:>10,.1f} | {ratio:>8} | {row.note} |"
        )

    def by_shape(self, shape: str) -> str:
        """Return the rows of one corpus shape as a whole Markdown table."""
        lines = [self.header()]
        lines += [self.format_row(r) for r in self.rows if r.shape == shape]
        return "\n".join(lines)


def progress(text: str) -> None:
    """Print a progress line on stderr, out of the table's way."""
    print(f"  .. {text}", file=sys.stderr, flush=True)


async def _time_once(call: Call, setup: Call | None) -> float:
    if setup is not None:
        await setup()
    start = time.perf_counter()
    await call()
    return (time.perf_counter() - start) * 1e6


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
    for _ in range(warmup):
        if peer is not None:
            await _time_once(peer, peer_setup)
        await _time_once(ours, our_setup)
    peer_times: list[float] = []
    our_times: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection landing on one side only would skew the pair
    try:
        for i in range(rounds):
            # Alternate who goes first, so neither always runs on a warm cache.
            if peer is not None and i % 2 == 0:
                peer_times.append(await _time_once(peer, peer_setup))
            our_times.append(await _time_once(ours, our_setup))
            if peer is not None and i % 2 == 1:
                peer_times.append(await _time_once(peer, peer_setup))
            if i % 50 == 49:
                gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    return (statistics.median(peer_times) if peer_times else None), statistics.median(our_times)


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
    floors: dict[str, tuple[str, Call]] | None = None,
    before_rows: Call | None = None,
    after: dict[str, Call] | None = None,
) -> None:
    """Fill both sessions, then time every operation on both, one row each.

    Args:
        table: Where the rows go.
        cfg: Session size, rounds and corpus.
        backend: The backend column of the rows.
        peer: The peer's side (its memory, message class, corpus).
        ours: memmark's side.
        rounds: Timed calls per row (default: ``cfg.rounds``).
        floors: Per operation slug, a floor row (its name and the bare client's
            call) timed right after the operation's row, interleaved with the
            peer's calls of that row, as memmark's calls were.
        before_rows: Untimed work once the sessions are filled (e.g. ANALYZE).
        after: Per operation slug, untimed work after its row (e.g. VACUUM).
    """
    rounds = cfg.rounds if rounds is None else rounds
    shape = cfg.corpus.shape
    progress(f"{backend}: filling two sessions of {cfg.messages} {shape} messages")
    await peer.fill(cfg.messages)
    await ours.fill(cfg.messages)
    if before_rows is not None:
        await before_rows()
    for op in OPERATIONS:
        await _row(table, backend, shape, op, peer, ours, rounds)
        if floors and op.slug in floors:
            name, call = floors[op.slug]
            _, us = await side_by_side(
                _bound(op.call, peer), call, rounds=rounds, peer_setup=_bound(op.setup, peer)
            )
            # The peer's time is not shown: its row already gives it.
            table.add(Row(name, backend, shape, None, us, "raw client, between peer calls"))
        for side in (peer, ours):
            if op.finish is not None:
                await op.finish(side)
        if after and op.slug in after:
            await after[op.slug]()


async def _row(
    table: Table, backend: str, shape: str, op: Operation, peer: Side, ours: Side, rounds: int
) -> None:
    peer_us, our_us = await side_by_side(
        lambda: op.call(peer),
        lambda: op.call(ours),
        rounds=rounds,
        peer_setup=_bound(op.setup, peer),
        our_setup=_bound(op.setup, ours),
    )
    table.add(Row(op.name, backend, shape, peer_us, our_us))
