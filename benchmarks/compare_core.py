"""In-process rows of ``compare.py``: memmark's InMemoryMemory against the peer's."""

from __future__ import annotations

from _harness import Config, Contract, Table, fill, progress, session_messages

from memmark.core import InMemoryMemory, Msg


async def run(table: Table, cfg: Config) -> None:
    """Measure every operation on both in-process memories, side by side."""
    from agentscope.memory import InMemoryMemory as PeerMemory
    from agentscope.message import Msg as PeerMsg

    progress(f"in-process: filling two sessions of {cfg.messages} messages")
    ours, peer = InMemoryMemory(), PeerMemory()
    await fill(ours, session_messages(Msg, cfg.messages, cfg.payload_bytes))
    await fill(peer, session_messages(PeerMsg, cfg.messages, cfg.payload_bytes))
    rows = Contract(table, cfg, "in-process", peer, ours, PeerMsg, Msg)
    await rows.add_one()
    await rows.add_batch()
    await rows.get_all()
    await rows.get_mark()
    await rows.get_exclude()
    await rows.get_last_20()
    await rows.delete_one()
    await rows.delete_by_mark()
    await rows.update_marks()
