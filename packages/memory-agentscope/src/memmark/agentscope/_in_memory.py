"""AgentScope's ``InMemoryMemory``, kept by memmark's in-process memory."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agentscope.message import Msg as AgentScopeMsg

from memmark.agentscope._adapter import MemmarkMemory
from memmark.agentscope._convert import plain_mark, plain_marks, to_agentscope
from memmark.core import InMemoryMemory as CoreInMemoryMemory
from memmark.core import Msg as CoreMsg

# Stale entries (of messages deleted by mark) allowed beyond the session's
# size before the cache is pruned; pruning costs one pass over the session.
_SLACK = 64


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
    content and metadata as read-only.
    """

    def __init__(self) -> None:
        super().__init__(CoreInMemoryMemory())
        # id -> (the backend's stored message, its AgentScope form). The
        # stored object is kept to check it is still the one stored: a
        # message deleted and added again under its id is a new object.
        self._views: dict[str, tuple[CoreMsg, AgentScopeMsg]] = {}

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
        get = views.get
        out: list[AgentScopeMsg] = []
        append = out.append
        for msg in msgs:
            entry = get(msg.id)
            if entry is None or entry[0] is not msg:
                entry = views[msg.id] = (msg, to_agentscope([msg])[0])
            append(entry[1])
        return out

    async def delete(self, msg_ids: str | Iterable[str], **kwargs: Any) -> int:
        """Remove messages by id, with their marks; see :meth:`MemmarkMemory.delete`."""
        ids = [msg_ids] if isinstance(msg_ids, str) else list(msg_ids)
        removed = await self._backend.delete(ids)
        pop = self._views.pop
        for msg_id in ids:
            pop(msg_id, None)
        return removed

    async def delete_by_mark(self, mark: str | list[str], *args: Any, **kwargs: Any) -> int:
        """Remove every message carrying any of the marks; returns how many."""
        removed = await self._backend.delete_by_mark(plain_marks(mark))
        if len(self._views) > await self._backend.size() + _SLACK:
            await self._prune()
        return removed

    async def clear(self) -> None:
        """Remove every message and mark; the summary stays."""
        await self._backend.clear()
        self._views.clear()

    async def _prune(self) -> None:
        views = self._views
        live = await self._backend.get_memory(prepend_summary=False)
        self._views = {m.id: views[m.id] for m in live if m.id in views}

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
