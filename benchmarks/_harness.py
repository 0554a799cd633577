"""Timing and reporting shared by ``compare.py`` and its backend sections.

Each backend section is a module with ``async def run(table: Table, cfg: Config)``
that measures operations side by side (peer and memmark in the same process,
interleaved round by round, so machine noise hits both alike) and adds rows.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Call = Callable[[], Awaitable[Any]]


@dataclass
class Config:
    """What to measure: session size, payload size, and rounds per operation."""

    messages: int = 1000
    payload_bytes: int = 200
    rounds: int = 200
    only: set[str] = field(default_factory=set)  # backends to run; empty: all


@dataclass
class Row:
    """One line of the table: an operation on a backend, peer vs memmark (µs)."""

    operation: str
    backend: str
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
    """The rows measured so far, printed as they come and again at the end."""

    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> None:
        """Record ``row`` and print it at once, as progress."""
        self.rows.append(row)
        print(self.format_row(row), flush=True)

    @staticmethod
    def header() -> str:
        """Return the table's header line."""
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
        ours: memmark's call.
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


def payload(n: int, size: int) -> str:
    """Return a ``size``-character text that differs by ``n``."""
    head = f"message {n}: "
    return head + "x" * max(0, size - len(head))


def session_messages(msg_cls: Any, n: int, size: int) -> list[tuple[Any, list[str]]]:
    """Return ``n`` messages of ``msg_cls`` and their marks: 10 % "hint", 10 % "tool".

    Every section fills its sessions with these, so each row compares like with like.
    """
    out = []
    for i in range(n):
        marks = ["hint"] if i % 10 == 3 else ["tool"] if i % 10 == 7 else []
        out.append((msg_cls("user", payload(i, size), "user"), marks))
    return out


async def fill(memory: Any, msgs: list[tuple[Any, list[str]]]) -> None:
    """Add ``msgs`` in order, grouped by mark set: a few calls, not one per message."""
    group: list[Any] = []
    marks: list[str] = []
    for m, these in msgs:
        if these != marks and group:
            await memory.add(group, marks=marks or None)
            group = []
        group.append(m)
        marks = these
    if group:
        await memory.add(group, marks=marks or None)


def progress(text: str) -> None:
    """Print a progress line on stderr, out of the table's way."""
    print(f"  .. {text}", file=sys.stderr, flush=True)
