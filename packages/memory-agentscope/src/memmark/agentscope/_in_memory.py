"""AgentScope's ``InMemoryMemory``, kept by memmark's in-process memory."""

from __future__ import annotations

from typing import Any

from agentscope.message import Msg as AgentScopeMsg

from memmark.agentscope._adapter import MemmarkMemory
from memmark.core import InMemoryMemory as CoreInMemoryMemory


class InMemoryMemory(MemmarkMemory[CoreInMemoryMemory]):
    """Messages and marks kept in this process, for one agent.

    Takes the arguments of ``agentscope.memory.InMemoryMemory`` (none). Its
    ``state_dict()`` is AgentScope's in-process format, so an agent's saved
    session loads into either class.
    """

    def __init__(self) -> None:
        super().__init__(CoreInMemoryMemory())

    async def add(
        self,
        memories: AgentScopeMsg | list[AgentScopeMsg] | None,
        marks: str | list[str] | None = None,
        allow_duplicates: bool = False,
        **kwargs: Any,
    ) -> None:
        """Append messages (copied), each with every mark in ``marks``.

        A message whose id is already stored is skipped whole, as in
        AgentScope. The memory keeps one message per id, so
        ``allow_duplicates=True`` cannot store a second copy: it raises
        instead when an id is taken, and writes nothing of the call.

        Args:
            memories: A ``Msg``, a list of them, or ``None`` (nothing to do).
            marks: ``None``, a mark, or a list of marks.
            allow_duplicates: Refuse, rather than skip, ids already stored.
            **kwargs: Accepted for AgentScope's signature; unused.

        Raises:
            memmark.core.DuplicateMessageError: ``allow_duplicates`` is true
                and an id is taken (a ``ValueError``).
        """
        await self._add(memories, marks, not allow_duplicates)
