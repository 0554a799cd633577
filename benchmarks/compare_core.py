"""In-process rows of ``compare.py``: memmark's InMemoryMemory against the peer's."""

from __future__ import annotations

from _harness import Config, Contract, Table

from memmark.core import InMemoryMemory, Msg


async def run(table: Table, cfg: Config) -> None:
    """Measure every operation on both in-process memories, side by side."""
    from agentscope.memory import InMemoryMemory as PeerMemory
    from agentscope.message import Msg as PeerMsg

    rows = Contract(table, cfg, "in-process", PeerMemory(), InMemoryMemory(), PeerMsg, Msg)
    await rows.fill()
    await rows.add_one()
    await rows.add_batch()
    await rows.get_all()
    await rows.get_mark()
    await rows.get_exclude()
    await rows.get_last_20()
    await rows.delete_one()
    await rows.delete_by_mark()
    await rows.update_marks()
