"""In-process rows of ``compare.py``: memmark's InMemoryMemory against the peer's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from _harness import Config, Row, Table, fill, payload, progress, session_messages, side_by_side

from memmark.core import InMemoryMemory, Msg


async def run(table: Table, cfg: Config) -> None:
    """Measure every operation on both in-process memories, side by side."""
    from agentscope.memory import InMemoryMemory as PeerMemory
    from agentscope.message import Msg as PeerMsg

    progress(f"in-process: filling two sessions of {cfg.messages} messages")
    ours, peer = InMemoryMemory(), PeerMemory()
    await fill(ours, session_messages(Msg, cfg.messages, cfg.payload_bytes))
    await fill(peer, session_messages(PeerMsg, cfg.messages, cfg.payload_bytes))
    backend = "in-process"
    counter = iter(range(10**9))

    async def row(
        op: str,
        peer_call: Callable[[], Awaitable[Any]],
        our_call: Callable[[], Awaitable[Any]],
        **setups: Callable[[], Awaitable[Any]],
    ) -> None:
        p, o = await side_by_side(peer_call, our_call, rounds=cfg.rounds, **setups)
        table.add(Row(op, backend, p, o))

    # add 1: a fresh message each call; the delete that keeps the size steady is untimed.
    pending: dict[str, Any] = {}

    async def peer_prepare_one() -> None:
        pending["peer"] = PeerMsg("user", payload(next(counter), cfg.payload_bytes), "user")

    async def our_prepare_one() -> None:
        pending["ours"] = Msg("user", payload(next(counter), cfg.payload_bytes), "user")

    async def peer_add_one() -> None:
        await peer.add(pending["peer"])

    async def our_add_one() -> None:
        await ours.add(pending["ours"])

    await row(
        "add 1", peer_add_one, our_add_one, peer_setup=peer_prepare_one, our_setup=our_prepare_one
    )

    async def peer_prepare_batch() -> None:
        pending["peer"] = [
            PeerMsg("user", payload(next(counter), cfg.payload_bytes), "user") for _ in range(100)
        ]

    async def our_prepare_batch() -> None:
        pending["ours"] = [
            Msg("user", payload(next(counter), cfg.payload_bytes), "user") for _ in range(100)
        ]

    async def peer_add_batch() -> None:
        await peer.add(pending["peer"], marks=["batch", "tool"])

    async def our_add_batch() -> None:
        await ours.add(pending["ours"], marks=["batch", "tool"])

    # The batches are dropped again (untimed) so the session stays near its size.
    async def peer_drop_batches() -> None:
        await peer.delete_by_mark("batch")
        await peer_prepare_batch()

    async def our_drop_batches() -> None:
        await ours.delete_by_mark("batch")
        await our_prepare_batch()

    await row(
        "add 100 (2 marks)",
        peer_add_batch,
        our_add_batch,
        peer_setup=peer_drop_batches,
        our_setup=our_drop_batches,
    )

    await row("get_memory all", lambda: peer.get_memory(), lambda: ours.get_memory())
    await row(
        "get_memory mark",
        lambda: peer.get_memory(mark="hint"),
        lambda: ours.get_memory(mark="hint"),
    )
    await row(
        "get_memory exclude_mark",
        lambda: peer.get_memory(exclude_mark="hint"),
        lambda: ours.get_memory(exclude_mark="hint"),
    )

    async def peer_last_20() -> list[Any]:
        # The peer has no limit: read everything and keep the newest 20.
        return (await peer.get_memory())[-20:]

    await row("get_memory limit=20", peer_last_20, lambda: ours.get_memory(limit=20))

    async def peer_prepare_delete() -> None:
        m = PeerMsg("user", payload(next(counter), cfg.payload_bytes), "user")
        await peer.add(m)
        pending["peer"] = m.id

    async def our_prepare_delete() -> None:
        m = Msg("user", payload(next(counter), cfg.payload_bytes), "user")
        await ours.add(m)
        pending["ours"] = m.id

    await row(
        "delete 1",
        lambda: peer.delete([pending["peer"]]),
        lambda: ours.delete([pending["ours"]]),
        peer_setup=peer_prepare_delete,
        our_setup=our_prepare_delete,
    )

    async def peer_prepare_doomed() -> None:
        await peer.add(
            [PeerMsg("user", payload(next(counter), cfg.payload_bytes), "user") for _ in range(10)],
            marks="doomed",
        )

    async def our_prepare_doomed() -> None:
        await ours.add(
            [Msg("user", payload(next(counter), cfg.payload_bytes), "user") for _ in range(10)],
            marks="doomed",
        )

    await row(
        "delete_by_mark (10 msgs)",
        lambda: peer.delete_by_mark("doomed"),
        lambda: ours.delete_by_mark("doomed"),
        peer_setup=peer_prepare_doomed,
        our_setup=our_prepare_doomed,
    )

    # Re-mark the 10 % carrying "hint"; the untimed setup turns them back.
    async def peer_unmark() -> None:
        await peer.update_messages_mark("hint", old_mark="done")

    async def our_unmark() -> None:
        await ours.update_messages_mark("hint", old_mark="done")

    await row(
        "update_messages_mark (10 %)",
        lambda: peer.update_messages_mark("done", old_mark="hint"),
        lambda: ours.update_messages_mark("done", old_mark="hint"),
        peer_setup=peer_unmark,
        our_setup=our_unmark,
    )
