"""The contract every memory backend keeps."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

from memmark.core import _checks
from memmark.core.msg import Msg

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Messages larger than this (as UTF-8 JSON) are refused unless a memory says otherwise."""

_F = TypeVar("_F", bound=Callable[..., Any])
_Self = TypeVar("_Self", bound="MemoryBase")


def _checked_add(impl: _F) -> _F:
    @functools.wraps(impl)
    async def add(
        self: MemoryBase,
        memories: Msg | list[Msg] | None,
        marks: str | list[str] | None = None,
        *,
        skip_duplicated: bool = True,
    ) -> Any:
        msgs = _checks.check_messages(memories, self.max_message_bytes)
        mark_list = _checks.check_marks(marks, "marks")
        _checks.check_bool(skip_duplicated, "skip_duplicated")
        return await impl(self, msgs, mark_list or None, skip_duplicated=skip_duplicated)

    return add  # type: ignore[return-value]


def _checked_delete(impl: _F) -> _F:
    @functools.wraps(impl)
    async def delete(self: MemoryBase, msg_ids: str | Iterable[str]) -> Any:
        return await impl(self, _checks.check_ids(msg_ids, "msg_ids"))

    return delete  # type: ignore[return-value]


def _checked_delete_by_mark(impl: _F) -> _F:
    @functools.wraps(impl)
    async def delete_by_mark(self: MemoryBase, mark: str | list[str]) -> Any:
        if mark is None:
            raise TypeError("mark: expected a str or a list of str, got NoneType")
        return await impl(self, _checks.check_marks(mark, "mark"))

    return delete_by_mark  # type: ignore[return-value]


def _checked_get_memory(impl: _F) -> _F:
    @functools.wraps(impl)
    async def get_memory(
        self: MemoryBase,
        mark: str | None = None,
        exclude_mark: str | None = None,
        prepend_summary: bool = True,
        *,
        limit: int | None = None,
    ) -> Any:
        return await impl(
            self,
            _checks.check_optional_mark(mark, "mark"),
            _checks.check_optional_mark(exclude_mark, "exclude_mark"),
            _checks.check_bool(prepend_summary, "prepend_summary"),
            limit=_checks.check_limit(limit),
        )

    return get_memory  # type: ignore[return-value]


def _checked_update_messages_mark(impl: _F) -> _F:
    @functools.wraps(impl)
    async def update_messages_mark(
        self: MemoryBase,
        new_mark: str | None,
        old_mark: str | None = None,
        msg_ids: str | Iterable[str] | None = None,
    ) -> Any:
        return await impl(
            self,
            _checks.check_optional_mark(new_mark, "new_mark"),
            _checks.check_optional_mark(old_mark, "old_mark"),
            None if msg_ids is None else _checks.check_ids(msg_ids, "msg_ids"),
        )

    return update_messages_mark  # type: ignore[return-value]


def _checked_update_compressed_summary(impl: _F) -> _F:
    @functools.wraps(impl)
    async def update_compressed_summary(self: MemoryBase, summary: str) -> Any:
        return await impl(self, _checks.check_summary(summary))

    return update_compressed_summary  # type: ignore[return-value]


# Each contract method a subclass defines is wrapped by its checker, so a
# backend receives arguments already validated and normalised: a list of Msg,
# a de-duplicated list of marks or ids, a checked limit. Bad input therefore
# raises before any backend code, and no backend repeats the checks.
_CHECKERS: dict[str, Callable[[Any], Any]] = {
    "add": _checked_add,
    "delete": _checked_delete,
    "delete_by_mark": _checked_delete_by_mark,
    "get_memory": _checked_get_memory,
    "update_messages_mark": _checked_update_messages_mark,
    "update_compressed_summary": _checked_update_compressed_summary,
}


class MemoryBase(ABC):
    """A store of messages and their marks for one ``(user_id, session_id)``.

    Subclasses implement every abstract method. The public methods listed in
    the contract are wrapped when the subclass is created, so the arguments
    an implementation receives are already checked and normalised:

    * ``add`` gets ``memories`` as a ``list[Msg]`` and ``marks`` as a list of
      distinct non-empty strings, or ``None`` when there are none;
    * ``delete`` gets a list of distinct ids, ``delete_by_mark`` a list of
      distinct marks;
    * ``update_messages_mark`` gets ``msg_ids`` as a list or ``None``.

    Bad input raises ``TypeError`` or ``ValueError`` naming the argument,
    before any I/O. That includes messages larger than
    ``max_message_bytes`` (as UTF-8 JSON; ``None`` for no limit) or whose
    content or metadata nest deeper than 30 levels (so that every backend
    can store them), which raise
    :class:`~memmark.core.errors.MessageTooLargeError`.

    Attributes:
        max_message_bytes: The largest message ``add``, ``import_state`` and
            ``load_state_dict`` accept; set it on an instance or a subclass.
    """

    max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES
    _compressed_summary: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, checker in _CHECKERS.items():
            impl = cls.__dict__.get(name)
            if impl is not None and not getattr(impl, "__memmark_checked__", False):
                wrapped = checker(impl)
                wrapped.__memmark_checked__ = True
                setattr(cls, name, wrapped)

    # -- writes ---------------------------------------------------------------

    @abstractmethod
    async def add(
        self,
        memories: Msg | list[Msg] | None,
        marks: str | list[str] | None = None,
        *,
        skip_duplicated: bool = True,
    ) -> None:
        """Append messages, in order, each carrying every mark in ``marks``.

        A message whose id is already in the session, or earlier in the same
        call, is skipped whole (marks included).

        Args:
            memories: A ``Msg``, a list of ``Msg``, or ``None`` (nothing to do).
            marks: ``None``, a non-empty string, or a list of them.
            skip_duplicated: When false, a duplicate id raises instead, and
                nothing of the call is written.

        Raises:
            DuplicateMessageError: ``skip_duplicated`` is false and an id is taken.
        """

    @abstractmethod
    async def delete(self, msg_ids: str | Iterable[str]) -> int:
        """Remove messages by id, with their marks.

        Args:
            msg_ids: One id, or an iterable of ids.

        Returns:
            How many messages were really removed; unknown ids count 0.
        """

    @abstractmethod
    async def delete_by_mark(self, mark: str | list[str]) -> int:
        """Remove every message carrying any of the marks.

        Args:
            mark: A mark or a list of marks.

        Returns:
            The number of messages removed.
        """

    @abstractmethod
    async def clear(self) -> None:
        """Remove every message and mark of the session; the summary stays."""

    @abstractmethod
    async def update_messages_mark(
        self,
        new_mark: str | None,
        old_mark: str | None = None,
        msg_ids: str | Iterable[str] | None = None,
    ) -> int:
        """Re-mark messages.

        The selection is the session's messages, narrowed to ``msg_ids`` when
        given and to those carrying ``old_mark`` when given. Then:

        * ``new_mark`` set: remove ``old_mark`` (if given) and add ``new_mark``;
        * ``new_mark`` ``None`` with ``old_mark``: remove ``old_mark``;
        * both ``None``: remove every mark of the selected messages.

        Returns:
            How many messages' mark sets changed. Running the same call twice
            changes nothing the second time.
        """

    @abstractmethod
    async def update_compressed_summary(self, summary: str) -> None:
        """Store the compressed summary of the session (``""`` removes it)."""

    # -- reads ----------------------------------------------------------------

    @abstractmethod
    async def size(self) -> int:
        """Return the number of messages in the session."""

    @abstractmethod
    async def get_memory(
        self,
        mark: str | None = None,
        exclude_mark: str | None = None,
        prepend_summary: bool = True,
        *,
        limit: int | None = None,
    ) -> list[Msg]:
        """Return messages in insertion order.

        Args:
            mark: Only messages carrying this mark.
            exclude_mark: Only messages not carrying this mark.
            prepend_summary: Put ``Msg("user", summary, "user")`` first when a
                summary is set; it is not counted by ``limit``.
            limit: Keep the newest ``limit`` messages of the result (still
                oldest first).
        """

    # -- state ----------------------------------------------------------------

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Return the memory's state (see each backend for what it holds)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Load a state made by :meth:`state_dict`.

        Raises:
            ValueError: The state is malformed; the memory is left as it was.
            KeyError: ``content`` is missing and ``strict`` is true.
        """

    @abstractmethod
    async def export_state(self) -> dict[str, Any]:
        """Return the whole session as ``{"content": [[msg_dict, [marks]], ...]}``.

        ``"_compressed_summary"`` is included when a summary is set. The
        format is the in-process memory's ``state_dict()``, so a session can
        move between backends.
        """

    @abstractmethod
    async def import_state(self, state: dict[str, Any]) -> None:
        """Replace the session's content with ``state``, atomically.

        Raises:
            ValueError: The state is malformed, or holds a message ``add``
                would refuse (over ``max_message_bytes``: a
                :class:`~memmark.core.errors.MessageTooLargeError`); the
                session is left as it was.
            KeyError: ``content`` is missing.
        """

    # -- lifetime -------------------------------------------------------------

    async def close(self) -> None:  # noqa: B027  # a no-op is right for owners of nothing
        """Release what the memory owns; never what the caller passed in."""

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- helpers for implementations -----------------------------------------

    def _summary_msg(self, summary: str) -> Msg:
        """Return the message that stands for ``summary`` at the head of a read."""
        return Msg("user", summary, "user")
