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


@dataclass
class Step:
    """The peer's side of a row, kept for a floor timed between the same peer calls."""

    call: Call
    setup: Call | None = None


class Contract:
    """The contract's operations timed on a peer memory and a memmark memory, one row each.

    Every section runs the same operations the same way: fresh messages of
    the configured size, untimed setups that keep the sessions near their
    size, and the peer and memmark alternating call by call.

    Args:
        table: Where the rows go.
        cfg: Session and payload sizes, and rounds.
        backend: The backend column of the rows.
        peer: The peer's memory.
        ours: memmark's memory.
        peer_msg: The peer's message class.
        our_msg: memmark's message class.
        rounds: Timed calls per row (default: ``cfg.rounds``).
    """

    def __init__(
        self,
        table: Table,
        cfg: Config,
        backend: str,
        peer: Any,
        ours: Any,
        peer_msg: Any,
        our_msg: Any,
        rounds: int | None = None,
    ) -> None:
        self.table, self.cfg, self.backend = table, cfg, backend
        self.peer, self.ours = peer, ours
        self.peer_msg, self.our_msg = peer_msg, our_msg
        self.rounds = cfg.rounds if rounds is None else rounds
        self._counter = iter(range(10**9))
        self._pending: dict[str, Any] = {}

    async def fill(self) -> None:
        """Fill both sessions with the same :func:`session_messages` (untimed)."""
        cfg = self.cfg
        progress(f"{self.backend}: filling two sessions of {cfg.messages} messages")
        await fill(self.peer, session_messages(self.peer_msg, cfg.messages, cfg.payload_bytes))
        await fill(self.ours, session_messages(self.our_msg, cfg.messages, cfg.payload_bytes))

    def _fresh(self, cls: Any, n: int = 1) -> list[Any]:
        size = self.cfg.payload_bytes
        return [cls("user", payload(next(self._counter), size), "user") for _ in range(n)]

    async def row(self, op: str, peer_call: Call, our_call: Call, **setups: Call) -> None:
        """Time ``peer_call`` against ``our_call`` and add the row."""
        p, o = await side_by_side(peer_call, our_call, rounds=self.rounds, **setups)
        self.table.add(Row(op, self.backend, p, o))

    async def add_one(self) -> Step:
        """add 1: a fresh message per call, deleted again (untimed) so the size holds."""
        pending, peer, ours = self._pending, self.peer, self.ours

        async def prepare(side: str, memory: Any, cls: Any) -> None:
            if side in pending:
                await memory.delete([pending.pop(side).id])
            pending[side] = self._fresh(cls)[0]

        async def peer_setup() -> None:
            await prepare("peer", peer, self.peer_msg)

        async def our_setup() -> None:
            await prepare("ours", ours, self.our_msg)

        step = Step(lambda: peer.add(pending["peer"]), peer_setup)
        await self.row(
            "add 1",
            step.call,
            lambda: ours.add(pending["ours"]),
            peer_setup=peer_setup,
            our_setup=our_setup,
        )
        for side, memory in (("peer", peer), ("ours", ours)):
            if side in pending:
                await memory.delete([pending.pop(side).id])
        return step

    async def add_batch(self) -> None:
        """add 100 with two marks; each batch is dropped (untimed) before the next."""
        pending, peer, ours = self._pending, self.peer, self.ours

        async def peer_setup() -> None:
            await peer.delete_by_mark("batch")
            pending["peer"] = self._fresh(self.peer_msg, 100)

        async def our_setup() -> None:
            await ours.delete_by_mark("batch")
            pending["ours"] = self._fresh(self.our_msg, 100)

        await self.row(
            "add 100 (2 marks)",
            lambda: peer.add(pending["peer"], marks=["batch", "tool"]),
            lambda: ours.add(pending["ours"], marks=["batch", "tool"]),
            peer_setup=peer_setup,
            our_setup=our_setup,
        )
        await peer.delete_by_mark("batch")
        await ours.delete_by_mark("batch")
        pending.clear()

    async def get_all(self) -> Step:
        """get_memory of the whole session."""
        step = Step(lambda: self.peer.get_memory())
        await self.row("get_memory all", step.call, lambda: self.ours.get_memory())
        return step

    async def get_mark(self) -> Step:
        """get_memory of the 10 % carrying "hint"."""
        step = Step(lambda: self.peer.get_memory(mark="hint"))
        await self.row("get_memory mark", step.call, lambda: self.ours.get_memory(mark="hint"))
        return step

    async def get_exclude(self) -> None:
        """get_memory of all but the 10 % carrying "hint"."""
        await self.row(
            "get_memory exclude_mark",
            lambda: self.peer.get_memory(exclude_mark="hint"),
            lambda: self.ours.get_memory(exclude_mark="hint"),
        )

    async def get_last_20(self) -> None:
        """get_memory(limit=20); the peer has no limit, so it reads all and keeps 20."""

        async def peer_last_20() -> list[Any]:
            return list(await self.peer.get_memory())[-20:]

        await self.row("get_memory limit=20", peer_last_20, lambda: self.ours.get_memory(limit=20))

    async def delete_one(self) -> Step:
        """delete 1: the message deleted was added (untimed) just before."""
        pending, peer, ours = self._pending, self.peer, self.ours

        async def prepare(side: str, memory: Any, cls: Any) -> None:
            m = self._fresh(cls)[0]
            await memory.add(m)
            pending[side] = m.id

        async def peer_setup() -> None:
            await prepare("peer", peer, self.peer_msg)

        async def our_setup() -> None:
            await prepare("ours", ours, self.our_msg)

        step = Step(lambda: peer.delete([pending["peer"]]), peer_setup)
        await self.row(
            "delete 1",
            step.call,
            lambda: ours.delete([pending["ours"]]),
            peer_setup=peer_setup,
            our_setup=our_setup,
        )
        pending.clear()
        return step

    async def delete_by_mark(self) -> None:
        """delete_by_mark of 10 messages added (untimed) just before."""
        peer, ours = self.peer, self.ours

        async def peer_setup() -> None:
            await peer.add(self._fresh(self.peer_msg, 10), marks="doomed")

        async def our_setup() -> None:
            await ours.add(self._fresh(self.our_msg, 10), marks="doomed")

        await self.row(
            "delete_by_mark (10 msgs)",
            lambda: peer.delete_by_mark("doomed"),
            lambda: ours.delete_by_mark("doomed"),
            peer_setup=peer_setup,
            our_setup=our_setup,
        )

    async def update_marks(self) -> None:
        """Re-mark the 10 % carrying "hint"; the untimed setup turns them back."""
        peer, ours = self.peer, self.ours
        await self.row(
            "update_messages_mark (10 %)",
            lambda: peer.update_messages_mark("done", old_mark="hint"),
            lambda: ours.update_messages_mark("done", old_mark="hint"),
            peer_setup=lambda: peer.update_messages_mark("hint", old_mark="done"),
            our_setup=lambda: ours.update_messages_mark("hint", old_mark="done"),
        )
