"""What the three AgentScope memories share: an AgentScope ``MemoryBase`` over a memmark one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from agentscope.memory import MemoryBase as AgentScopeMemoryBase
from agentscope.message import Msg as AgentScopeMsg

from memmark.agentscope._convert import (
    SharedReads,
    plain_mark,
    plain_marks,
    to_agentscope,
    to_core,
)
from memmark.core import AsyncClosing, StoreBackedMemory
from memmark.core import MemoryBase as CoreMemoryBase
from memmark.core import Msg as CoreMsg

_Backend = TypeVar("_Backend", bound=CoreMemoryBase)
_Params = ParamSpec("_Params")
_Adapter = TypeVar("_Adapter", bound="MemmarkMemory[Any]")


def takes_arguments_of(
    backend: Callable[_Params, object],
) -> Callable[
    [Callable[Concatenate[_Adapter, ...], None]], Callable[Concatenate[_Adapter, _Params], None]
]:
    """Give an adapter's ``__init__(self, *args, **kwargs)`` the backend class's parameters.

    The adapter passes its arguments on to the backend unchanged, so they
    are the backend's, written once: type checkers check calls against the
    backend's constructor, and ``inspect.signature`` (``help()``, IDEs)
    shows its parameters.
    """

    def apply(
        init: Callable[Concatenate[_Adapter, ...], None],
    ) -> Callable[Concatenate[_Adapter, _Params], None]:
        init.__wrapped__ = backend.__init__  # type: ignore[attr-defined]
        return init

    return apply


class MemmarkMemory(AgentScopeMemoryBase, AsyncClosing, Generic[_Backend]):
    """An AgentScope memory whose messages and marks live in a memmark backend.

    Every call is the backend's call of the same name, with AgentScope
    messages converted at the seam and marks given as ``str`` enum members
    (AgentScope's ``_MemoryMark``) turned into their plain value. As an
    AgentScope ``MemoryBase`` it is a ``StateModule``: an agent holding it
    saves and loads it with ``state_dict()`` and the sessions that use it.

    Messages come back as AgentScope ``Msg`` objects. When the backend hands
    out the same message objects read after read (``shared_reads``), each is
    converted once, with its own copy of the content and metadata, and later
    reads in this process return that same AgentScope message: treat what a
    read returns as read-only, and copy a message (``copy.deepcopy``) before
    changing it. A change to a returned message never reaches the backend's
    own messages (what the backend and its store read back), but later reads
    of the same message in this process would see it. ``ReActAgent`` and
    AgentScope's formatters only read them.

    Args:
        backend: The memmark memory that stores everything.
        shared_reads: Whether the backend's reads hand out the same message
            objects again (a cache of decoded messages, as the Redis
            backend's, or the in-process store): their AgentScope messages
            are then made once and shared. ``False`` for a backend that
            decodes new messages on every read: each read then converts
            them, sharing their values, which nobody else holds.
    """

    def __init__(self, backend: _Backend, *, shared_reads: bool = True) -> None:
        # Set before AgentScope's __init__, which reads _compressed_summary
        # (a property over the backend here) to register it as state.
        self._backend = backend
        # What a read hands the agent for the backend's messages.
        self._convert: Callable[[list[CoreMsg]], list[AgentScopeMsg]] = (
            SharedReads().convert if shared_reads else to_agentscope
        )
        super().__init__()

    # -- the summary, kept by the backend -------------------------------------

    @property
    def _compressed_summary(self) -> str:
        # The backend's last known summary is the only copy: two would drift.
        return self._summary()

    @_compressed_summary.setter
    def _compressed_summary(self, summary: str) -> None:
        # AgentScope's __init__ resets it to "" and code may assign it; it
        # describes only this handle, as the backend's last known summary
        # does, which a summary-only state sets without touching messages.
        self._backend.load_state_dict({"_compressed_summary": summary}, strict=False)

    def _summary(self) -> str:
        # On SQL and Redis, state_dict() holds only the last known summary;
        # the in-process class reads it without building the whole state.
        summary: str = self._backend.state_dict().get("_compressed_summary", "")
        return summary

    @property
    def backend(self) -> _Backend:
        """The memmark memory underneath, for memmark's own calls on the same session."""
        return self._backend

    # -- writes ---------------------------------------------------------------

    async def delete(self, msg_ids: str | Iterable[str], **kwargs: Any) -> int:
        """Remove messages by id, with their marks.

        Args:
            msg_ids: A list of ids (a ``str`` is one id).
            **kwargs: Accepted for AgentScope's signature; unused.

        Returns:
            How many messages were really removed; unknown ids count 0.
        """
        return await self._backend.delete(msg_ids)

    async def delete_by_mark(self, mark: str | list[str], *args: Any, **kwargs: Any) -> int:
        """Remove every message carrying any of the marks.

        Args:
            mark: A mark or a list of marks (``str`` enum members are fine).
            *args: Accepted for AgentScope's signature; unused.
            **kwargs: Accepted for AgentScope's signature; unused.

        Returns:
            The number of messages removed.
        """
        return await self._backend.delete_by_mark(plain_marks(mark))

    async def clear(self) -> None:
        """Remove every message and mark of the session; the summary stays."""
        await self._backend.clear()

    async def update_messages_mark(
        self,
        new_mark: str | None,
        old_mark: str | None = None,
        msg_ids: list[str] | None = None,
    ) -> int:
        """Add, replace or remove a mark on the selected messages.

        The selection is the session's messages, narrowed to ``msg_ids`` and
        to those carrying ``old_mark`` when given. ``new_mark`` set: remove
        ``old_mark`` (if given) and add ``new_mark``; ``new_mark`` ``None``:
        remove ``old_mark``, or every mark when ``old_mark`` is ``None`` too.

        Returns:
            How many messages' marks changed.
        """
        return await self._backend.update_messages_mark(
            plain_mark(new_mark), plain_mark(old_mark), msg_ids
        )

    async def update_compressed_summary(self, summary: str) -> None:
        """Store the session's summary (``""`` removes it)."""
        await self._backend.update_compressed_summary(summary)

    # -- reads ----------------------------------------------------------------

    async def size(self) -> int:
        """Return the number of messages in the session."""
        return await self._backend.size()

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
            exclude_mark: Only messages not carrying this mark (``ReActAgent``
                passes ``"compressed"`` when compression is on).
            prepend_summary: Put ``Msg("user", summary, "user")`` first when a
                summary is set.
            limit: Keep only the newest ``limit`` messages (memmark's own).
            **kwargs: Accepted for AgentScope's signature; unused.
        """
        mark, exclude_mark = plain_mark(mark), plain_mark(exclude_mark)
        # The usual call passes no keyword: each costs a dict in every wrapper between.
        if limit is None:
            msgs = await self._backend.get_memory(mark, exclude_mark, prepend_summary)
        else:
            msgs = await self._backend.get_memory(mark, exclude_mark, prepend_summary, limit=limit)
        return self._convert(msgs)

    # -- state ----------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Return the backend's state: what ``agent.state_dict()`` and sessions save.

        In process, the whole memory as ``{"content": [[msg_dict, [marks]], ...]}``
        (plus ``"_compressed_summary"`` when one is set); on SQL and Redis,
        whose messages stay in the store, ``{"_compressed_summary": ...}``,
        the last summary this handle saw. Always JSON-serialisable.
        """
        return self._backend.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Load a state made by :meth:`state_dict`, or by AgentScope's own memory.

        Raises:
            ValueError: The state is malformed (the memory is left as it was),
                or, on SQL and Redis, carries messages: those need I/O, which
                ``await memory.import_state(state)`` does.
            KeyError: In process, ``content`` is missing and ``strict`` is true.
        """
        self._backend.load_state_dict(state_dict, strict)

    # -- moving whole sessions --------------------------------------------------

    async def export_state(self) -> dict[str, Any]:
        """Return the whole session in the in-process ``state_dict()`` format.

        The message dicts are memmark's (``invocation_id`` included when
        set), which ``agentscope.message.Msg.from_dict`` reads too.
        """
        return await self._backend.export_state()

    async def import_state(self, state: dict[str, Any]) -> None:
        """Replace the session's content with ``state``, atomically."""
        await self._backend.import_state(state)

    # -- lifetime -------------------------------------------------------------

    async def close(self) -> None:
        """Release what the memory owns; never an engine, session, pool or client passed in."""
        await self._backend.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._backend!r})"


_Stored = TypeVar("_Stored", bound=StoreBackedMemory)


class StoredMemory(MemmarkMemory[_Stored]):
    """What the SQL and Redis memories add to :class:`MemmarkMemory`: ids, AgentScope's ``add``.

    Args:
        backend: The memmark SQL or Redis memory that stores everything.
    """

    def __init__(self, backend: _Stored) -> None:
        # A backend reading through its cache of decoded sessions hands out
        # the same objects read after read. (Inside a caller's transaction
        # the SQL one decodes afresh, which converting with copies only
        # makes a little slower.)
        super().__init__(backend, shared_reads=backend.message_cache is not None)

    @property
    def session_id(self) -> str:
        """The conversation this memory keeps."""
        return self._backend.session_id

    @property
    def user_id(self) -> str:
        """The owner of the conversation."""
        return self._backend.user_id

    async def add(
        self,
        memories: AgentScopeMsg | list[AgentScopeMsg] | None,
        marks: str | list[str] | None = None,
        skip_duplicated: bool = True,
        **kwargs: Any,
    ) -> None:
        """Append messages, each with every mark in ``marks``, in one atomic call.

        AgentScope's Redis class stores a second copy of an id when asked
        (``skip_duplicated=False``); this one keeps one message per id, so it
        raises instead and writes nothing of the call.

        Args:
            memories: A ``Msg``, a list of them, or ``None`` (nothing to do).
            marks: ``None``, a mark, or a list of marks.
            skip_duplicated: Skip ids already stored (the default); when
                false, raise when an id is taken.
            **kwargs: Accepted for AgentScope's signature; unused.

        Raises:
            memmark.core.DuplicateMessageError: ``skip_duplicated`` is false
                and an id is taken (a ``ValueError``).
        """
        msgs = to_core(memories)
        if not msgs:
            return
        if skip_duplicated is True:  # the default, passed as such (see get_memory)
            await self._backend.add(msgs, plain_marks(marks))
        else:
            await self._backend.add(msgs, plain_marks(marks), skip_duplicated=skip_duplicated)
