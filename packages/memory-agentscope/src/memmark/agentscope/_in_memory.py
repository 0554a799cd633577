"""AgentScope's ``InMemoryMemory``, kept by memmark's in-process memory."""

from __future__ import annotations

from typing import Any, cast

from agentscope.message import Msg as AgentScopeMsg

from memmark.agentscope._adapter import MemmarkMemory
from memmark.agentscope._convert import plain_marks, to_core
from memmark.core import InMemoryMemory as CoreInMemoryMemory
from memmark.core import Msg as CoreMsg
from memmark.core.values import copy_value

_new = object.__new__


class StoredMsg(AgentScopeMsg, CoreMsg):  # type: ignore[misc]  # the two differ on purpose
    """A stored message that is both an AgentScope ``Msg`` and a memmark ``Msg``.

    Its fields live in memmark's slots; its methods (``to_dict`` without
    ``invocation_id``, ``get_content_blocks(block_type)``, the ``repr``) are
    AgentScope's, so to an agent it is AgentScope's message exactly. The
    in-process backend stores these and returns them as they are, so a read
    costs no conversion at all. Like AgentScope's ``Msg``, it compares and
    hashes by identity.
    """

    __slots__ = ()
    __eq__ = object.__eq__
    __hash__ = object.__hash__  # type: ignore[assignment]  # memmark's Msg is unhashable


def _stored(msg: CoreMsg) -> StoredMsg:
    stored = _new(StoredMsg)
    stored.id = msg.id
    stored.name = msg.name
    stored.role = msg.role
    content = msg.content
    # Strings are immutable; block lists and metadata are the caller's, so copied.
    stored.content = content if type(content) is str else copy_value(content)  # type: ignore[assignment]
    metadata = msg.metadata
    # AgentScope types metadata as a dict, but its agent sets None too; memmark keeps either.
    stored.metadata = None if metadata is None else copy_value(metadata)  # type: ignore[assignment]
    stored.timestamp = msg.timestamp
    stored.invocation_id = msg.invocation_id
    return stored


class _AgentScopeStore(CoreInMemoryMemory):
    """memmark's in-process memory, storing ``StoredMsg`` objects.

    The checks copy each message as they walk it, and the copy's fields are
    moved into a ``StoredMsg``: one walk of each message's values.
    """

    stored_class = StoredMsg

    def _summary_msg(self, summary: str) -> CoreMsg:
        return _stored(super()._summary_msg(summary))

    @property
    def summary(self) -> str:
        """The session's summary (``""`` for none), without building the whole state."""
        # A backend reads the summary the base keeps for it, as the core's own do.
        return self._compressed_summary


def _as_stored(msgs: list[CoreMsg]) -> list[AgentScopeMsg]:
    # Every one a StoredMsg, already AgentScope's Msg: handed out as it is.
    return cast("list[AgentScopeMsg]", msgs)


class InMemoryMemory(MemmarkMemory[_AgentScopeStore]):
    """Messages and marks kept in this process, for one agent.

    Takes the arguments of ``agentscope.memory.InMemoryMemory`` (none). Its
    ``state_dict()`` is AgentScope's in-process format, so an agent's saved
    session loads into either class.

    Messages are copied once, on the way in, into objects that are at the
    same time AgentScope's ``Msg`` and memmark's (:class:`StoredMsg`): the
    backend keeps them and a read returns them as they are, with no
    conversion. As with AgentScope's own class, the messages a read returns
    are the stored ones: treat them as read-only, since a change to one is a
    change to the memory. Handing out copies instead, converted once and
    shared by reads as on Redis, measured about a fifth more per agent turn
    (a lookup per message of the session on every read).
    """

    def __init__(self) -> None:
        super().__init__(_AgentScopeStore())
        self._convert = _as_stored

    def _summary(self) -> str:
        return self._backend.summary

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
        msgs = to_core(memories)
        if not msgs:
            return
        if allow_duplicates is False:  # the default: no keyword to pass (see get_memory)
            await self._backend.add(msgs, plain_marks(marks))
        else:
            await self._backend.add(msgs, plain_marks(marks), skip_duplicated=not allow_duplicates)
