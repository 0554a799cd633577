"""AgentScope's ``InMemoryMemory``, kept by memmark's in-process memory."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agentscope.message import Msg as AgentScopeMsg

from memmark.agentscope._adapter import MemmarkMemory
from memmark.agentscope._convert import plain_mark, plain_marks, to_agentscope
from memmark.core import InMemoryMemory as CoreInMemoryMemory


class InMemoryMemory(MemmarkMemory[CoreInMemoryMemory]):
    """Messages and marks kept in this process, for one agent.

    Takes the arguments of ``agentscope.memory.InMemoryMemory`` (none). Its
    ``state_dict()`` is AgentScope's in-process format, so an agent's saved
    session loads into either class.

    The in-process backend keeps its messages as objects and returns them
    without copying, so the AgentScope form of each stored message is made
    once, at its first read, and kept beside it: a read of a long session
    costs a lookup per message, not a new object. As with AgentScope's own
    class, the messages a read returns are the stored ones: treat their
    content and metadata as read-only. Remove messages through this class,
    not through :attr:`backend`, which would leave their forms behind.
    """

    def __init__(self) -> None:
        super().__init__(CoreInMemoryMemory())
        # id -> the AgentScope form of the stored message of that id. Every
        # call of this class that removes messages drops their entries, so an
        # entry always matches what is stored under its id.
        self._views: dict[str, AgentScopeMsg] = {}

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

    async def get_memory(
        self,
        mark: str | None = None,
        exclude_mark: str | None = None,
        prepend_summary: bool = True,
        *,
        limit: int | None = None,
        **kwargs: Any,
    ) -> list[AgentScopeMsg]:
        """Return the messages in insertion order, as AgentScope messages.

        Args:
            mark: Only messages carrying this mark.
            exclude_mark: Only messages not carrying this mark.
            prepend_summary: Put ``Msg("user", summary, "user")`` first when a
                summary is set.
            limit: Keep only the newest ``limit`` messages (memmark's own).
            **kwargs: Accepted for AgentScope's signature; unused.
        """
        msgs = await self._backend.get_memory(
            plain_mark(mark), plain_mark(exclude_mark), prepend_summary, limit=limit
        )
        views = self._views
        try:
            return [views[m.id] for m in msgs]
        except KeyError:
            pass  # a message read for the first time, or the summary
        # The summary's message is made for reads, not stored: it is not kept.
        summary = msgs[0] if prepend_summary and self._backend._compressed_summary else None
        out: list[AgentScopeMsg] = []
        for msg in msgs:
            view = views.get(msg.id)
            if view is None:
                view = to_agentscope([msg])[0]
                if msg is not summary:
                    views[msg.id] = view
            out.append(view)
        return out

    async def delete(self, msg_ids: str | Iterable[str], **kwargs: Any) -> int:
        """Remove messages by id, with their marks; see :meth:`MemmarkMemory.delete`."""
        ids = [msg_ids] if isinstance(msg_ids, str) else list(msg_ids)
        removed = await self._backend.delete(ids)
        self._forget(ids)
        return removed

    async def delete_by_mark(self, mark: str | list[str], *args: Any, **kwargs: Any) -> int:
        """Remove every message carrying any of the marks; returns how many."""
        marks = plain_marks(mark)
        each = [marks] if isinstance(marks, str) else marks if isinstance(marks, list) else []
        # In process a read by mark costs the marked messages only.
        doomed = [
            m.id
            for one in each
            for m in await self._backend.get_memory(mark=one, prepend_summary=False)
        ]
        removed = await self._backend.delete_by_mark(marks)
        self._forget(doomed)
        return removed

    async def clear(self) -> None:
        """Remove every message and mark; the summary stays."""
        await self._backend.clear()
        self._views.clear()

    def _forget(self, ids: Iterable[str]) -> None:
        pop = self._views.pop
        for msg_id in ids:
            pop(msg_id, None)

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Replace the memory with a state of :meth:`state_dict` or of AgentScope's class.

        Raises:
            ValueError: The state is malformed; the memory is left as it was.
            KeyError: ``content`` is missing and ``strict`` is true.
        """
        super().load_state_dict(state_dict, strict)
        self._views.clear()

    async def import_state(self, state: dict[str, Any]) -> None:
        """Replace the memory's content with ``state``."""
        await super().import_state(state)
        self._views.clear()
