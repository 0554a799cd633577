"""What the conformance specs share: the factory type, message helpers, the spec base."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from memmark.core.base import MemoryBase
from memmark.core.msg import Msg

MemoryFactory = Callable[[str, str], Awaitable[MemoryBase]]
"""Makes a new memory handle bound to ``(user_id, session_id)``."""


def msg(content: str, msg_id: str | None = None, role: str = "user") -> Msg:
    """Return a message with ``content``, and ``msg_id`` as its id when given."""
    m = Msg("tester", content, role)  # type: ignore[arg-type]
    if msg_id is not None:
        m.id = msg_id
    return m


def contents(msgs: list[Msg]) -> list[Any]:
    """Return the contents of ``msgs``, for compact assertions."""
    return [m.content for m in msgs]


async def snapshot(memory: MemoryBase) -> tuple[dict[str, Any], int, int]:
    """Return everything a write could change: the exported session, its size and version."""
    return await memory.export_state(), await memory.size(), await memory.version()


def ids_of(msgs: list[Msg]) -> list[str]:
    """Return the ids of ``msgs``, in order."""
    return [m.id for m in msgs]


async def marks_by_id(memory: MemoryBase) -> dict[str, set[str]]:
    """Return each message's marks, read through ``export_state``."""
    state = await memory.export_state()
    return {d["id"]: set(marks) for d, marks in state["content"]}


class Spec:
    """The base of the spec classes: what a spec may ask of the suite it is part of.

    Attributes:
        hostile_ids: The ids the store must keep apart.
        hostile_ids_without_nul: The same, for stores that cannot hold NUL.
    """

    hostile_ids: ClassVar[tuple[str, ...]]
    hostile_ids_without_nul: ClassVar[tuple[str, ...]]

    async def _fill(self, memory: MemoryBase) -> None:
        await memory.add(msg("u1", "1"))
        await memory.add(msg("h1", "2"), marks="hint")
        await memory.add(msg("t1", "3"), marks=["tool", "hint"])
        await memory.add(msg("u2", "4"))
        await memory.add(msg("t2", "5"), marks="tool")
