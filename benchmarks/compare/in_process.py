"""In-process rows of the comparison: memmark's InMemoryMemory against the peer's.

``add 100`` has a floor: a bare type walk and a bare copy of the content and
metadata of the same 100 fresh messages, with no check at all. Storing a
message the caller may change later means at least copying it, and checking
it means at least visiting each value; so no in-process ``add`` that checks
and copies in Python can be faster than this.
"""

from __future__ import annotations

from typing import Any

from benchmarks.compare.floors import Floor
from benchmarks.compare.timing import Config, Table, compare_rows
from benchmarks.corpus import Corpus, fresh_indices
from benchmarks.operations import Side
from memmark.core import InMemoryMemory, Msg


def _walk(value: Any) -> None:
    kind = type(value)
    if kind is dict:
        for child in value.values():
            _walk(child)
    elif kind is list:
        for child in value:
            _walk(child)


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _copy(child) for key, child in value.items()}
    if kind is list:
        return [_copy(child) for child in value]
    return value


def add_floor(corpus: Corpus, count: int = 100) -> Floor:
    """The floor of ``add 100``: walk and copy ``count`` fresh messages' values, check nothing."""
    fresh = fresh_indices()
    pending: list[Msg] = []

    async def setup() -> None:
        pending[:] = [corpus.message(Msg, next(fresh)) for _ in range(count)]

    async def call() -> None:
        for msg in pending:
            _walk(msg.content)
            _walk(msg.metadata)
            _copy(msg.content)
            _copy(msg.metadata)

    return Floor(call, setup, "floor: bare type walk + bare copy of the values, no checks")


async def run(table: Table, cfg: Config) -> None:
    """Measure every operation on both in-process memories, side by side."""
    from agentscope.memory import InMemoryMemory as PeerMemory
    from agentscope.message import Msg as PeerMsg

    peer = Side(PeerMemory(), PeerMsg, cfg.corpus, native_limit=False)
    ours = Side(InMemoryMemory(), Msg, cfg.corpus)
    # size() takes well under a microsecond: each sample is the mean of 100
    # calls, on both sides, so the clock's own cost does not decide the row.
    await compare_rows(
        table,
        cfg,
        "in-process",
        peer,
        ours,
        batches={"size": 100},
        floors={"add_100": add_floor(cfg.corpus)},
    )
