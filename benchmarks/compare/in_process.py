"""In-process rows of the comparison: memmark's InMemoryMemory against the peer's."""

from __future__ import annotations

from benchmarks.compare.timing import Config, Table, compare_rows
from benchmarks.operations import Side
from memmark.core import InMemoryMemory, Msg


async def run(table: Table, cfg: Config) -> None:
    """Measure every operation on both in-process memories, side by side."""
    from agentscope.memory import InMemoryMemory as PeerMemory
    from agentscope.message import Msg as PeerMsg

    peer = Side(PeerMemory(), PeerMsg, cfg.corpus, native_limit=False)
    ours = Side(InMemoryMemory(), Msg, cfg.corpus)
    # size() takes well under a microsecond: each sample is the mean of 100
    # calls, on both sides, so the clock's own cost does not decide the row.
    await compare_rows(table, cfg, "in-process", peer, ours, batches={"size": 100})
