"""The contract every memory backend keeps, and the hooks a backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from types import TracebackType
from typing import Any, TypeVar

from memmark.core import checks
from memmark.core.errors import DuplicateMessageError
from memmark.core.msg import Msg

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Messages larger than this (as UTF-8 JSON) are refused unless a memory says otherwise."""

_Self = TypeVar("_Self", bound="MemoryBase")

StateContent = list[tuple[dict[str, Any], list[str]]]
"""What :meth:`MemoryBase._export_state` returns: each message's ``to_dict()`` and its marks."""


def build_state(
    content: Iterable[tuple[dict[str, Any], list[str]]], summary: str
) -> dict[str, Any]:
    """Return the exchange format ``{"content": [[msg_dict, [marks]], ...]}``.

    ``"_compressed_summary"`` is added only when ``summary`` is not empty, as
    the in-process memory's ``state_dict()`` has always done.

    Args:
        content: Each message as its ``to_dict()`` form, with its marks, in order.
        summary: The session's summary; ``""`` for none.
    """
    state: dict[str, Any] = {"content": [[data, marks] for data, marks in content]}
    if summary:
        state["_compressed_summary"] = summary
    return state


class MemoryBase(ABC):
    """A store of messages and their marks for one ``(user_id, session_id)``.

    The public methods are the contract, and they are concrete: each checks
    and normalises its arguments, answers the trivial cases itself (nothing
    to add, no ids to delete), then calls one abstract hook with
    already-normalised types. A backend implements the hooks (``_add``,
    ``_delete``, ``_delete_by_mark``, ``_clear``, ``_update_messages_mark``,
    ``_update_compressed_summary``, ``_size``, ``_get_memory``,
    ``_export_state``, ``_import_state``) plus the sync ``state_dict`` and
    ``load_state_dict``, and never restates a public signature.

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

    # -- writes ---------------------------------------------------------------

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
        msgs = checks.check_messages(memories, self.max_message_bytes)
        mark_list = checks.check_marks(marks, "marks")
        checks.check_bool(skip_duplicated, "skip_duplicated")
        if not msgs:
            return
        if not skip_duplicated:
            repeated = checks.find_duplicates(msgs)
            if repeated:
                raise DuplicateMessageError(repeated)
        await self._add(msgs, mark_list, skip_duplicated)

    async def delete(self, msg_ids: str | Iterable[str]) -> int:
        """Remove messages by id, with their marks.

        Args:
            msg_ids: One id, or an iterable of ids.

        Returns:
            How many messages were really removed; unknown ids count 0.
        """
        ids = checks.check_ids(msg_ids, "msg_ids")
        if not ids:
            return 0
        return await self._delete(ids)

    async def delete_by_mark(self, mark: str | list[str]) -> int:
        """Remove every message carrying any of the marks.

        Args:
            mark: A mark or a list of marks.

        Returns:
            The number of messages removed.
        """
        if mark is None:
            raise TypeError("mark: expected a str or a list of str, got NoneType")
        marks = checks.check_marks(mark, "mark")
        if not marks:
            return 0
        return await self._delete_by_mark(marks)

    async def clear(self) -> None:
        """Remove every message and mark of the session; the summary stays."""
        await self._clear()

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
        new = checks.check_optional_mark(new_mark, "new_mark")
        old = checks.check_optional_mark(old_mark, "old_mark")
        ids = None if msg_ids is None else checks.check_ids(msg_ids, "msg_ids")
        if (ids is not None and not ids) or (new is not None and new == old):
            return 0  # nothing selected, or a mark removed and added back: no set changes
        return await self._update_messages_mark(new, old, ids)

    async def update_compressed_summary(self, summary: str) -> None:
        """Store the compressed summary of the session (``""`` removes it)."""
        checks.check_summary(summary)
        await self._update_compressed_summary(summary)
        self._compressed_summary = summary

    # -- reads ----------------------------------------------------------------

    async def size(self) -> int:
        """Return the number of messages in the session."""
        return await self._size()

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
        mark = checks.check_optional_mark(mark, "mark")
        exclude_mark = checks.check_optional_mark(exclude_mark, "exclude_mark")
        checks.check_bool(prepend_summary, "prepend_summary")
        msgs, summary = await self._get_memory(
            mark, exclude_mark, checks.check_limit(limit), prepend_summary
        )
        if prepend_summary:
            self._compressed_summary = summary = summary or ""
            if summary:
                msgs.insert(0, self._summary_msg(summary))
        return msgs

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

    async def export_state(self) -> dict[str, Any]:
        """Return the whole session as ``{"content": [[msg_dict, [marks]], ...]}``.

        ``"_compressed_summary"`` is included when a summary is set. The
        format is the in-process memory's ``state_dict()``, so a session can
        move between backends.
        """
        content, summary = await self._export_state()
        self._compressed_summary = summary
        return build_state(content, summary)

    async def import_state(self, state: dict[str, Any]) -> None:
        """Replace the session's content with ``state``, atomically.

        Raises:
            ValueError: The state is malformed, or holds a message ``add``
                would refuse (over ``max_message_bytes``: a
                :class:`~memmark.core.errors.MessageTooLargeError`); the
                session is left as it was.
            KeyError: ``content`` is missing.
            TypeError: ``state`` is not a dict.
        """
        content, summary = checks.parse_state(state, True, self.max_message_bytes)
        assert content is not None  # strict: a missing content raised KeyError
        await self._import_state(content, summary)
        self._compressed_summary = summary

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

    # -- hooks: what a backend implements ------------------------------------

    @abstractmethod
    async def _add(self, msgs: list[Msg], marks: list[str], skip_duplicated: bool) -> None:
        """Store ``msgs`` in order, each with every mark in ``marks``, atomically.

        Skip (marks included) a message whose id is already stored, and a
        later message with the id of an earlier one in ``msgs``.

        Args:
            msgs: The messages, checked; never empty. Copy or encode them
                now: the caller may change them later.
            marks: Distinct, non-empty marks; maybe empty.
            skip_duplicated: When false, ``msgs`` holds no id twice (the base
                has checked), and an id already stored must raise
                :class:`~memmark.core.errors.DuplicateMessageError` with
                nothing of the call written.
        """

    @abstractmethod
    async def _delete(self, ids: list[str]) -> int:
        """Remove the messages ``ids`` (distinct, never empty) with their marks.

        Returns:
            How many were really removed.
        """

    @abstractmethod
    async def _delete_by_mark(self, marks: list[str]) -> int:
        """Remove every message carrying any of ``marks`` (distinct, never empty).

        Returns:
            How many were removed.
        """

    @abstractmethod
    async def _clear(self) -> None:
        """Remove every message and mark of the session, but not its summary."""

    @abstractmethod
    async def _update_messages_mark(
        self, new_mark: str | None, old_mark: str | None, msg_ids: list[str] | None
    ) -> int:
        """Re-mark messages as :meth:`update_messages_mark` says.

        Args:
            new_mark: The mark to add, or ``None``.
            old_mark: The mark to remove (and to select by), or ``None``;
                never equal to a ``new_mark`` that is not ``None``.
            msg_ids: ``None`` (every message), or distinct ids; never empty.

        Returns:
            How many messages' mark sets changed.
        """

    @abstractmethod
    async def _update_compressed_summary(self, summary: str) -> None:
        """Store ``summary`` (checked; ``""`` removes it); the base then caches it."""

    @abstractmethod
    async def _size(self) -> int:
        """Return the number of messages in the session."""

    @abstractmethod
    async def _get_memory(
        self, mark: str | None, exclude_mark: str | None, limit: int | None, with_summary: bool
    ) -> tuple[list[Msg], str | None]:
        """Read messages as :meth:`get_memory` says, without the summary message.

        Args:
            mark: Only messages carrying it, when not ``None``.
            exclude_mark: Only messages not carrying it, when not ``None``.
            limit: Only the newest ``limit`` of the result, when not ``None``.
            with_summary: Whether to read the session's summary too.

        Returns:
            The messages, oldest first, as a fresh list the base may insert
            into; and, when ``with_summary`` is true, the stored summary
            (``""`` or ``None`` for none). ``None`` when it was not read. The
            base caches the summary and puts its message first.
        """

    @abstractmethod
    async def _export_state(self) -> tuple[StateContent, str]:
        """Return every message as ``(msg.to_dict(), marks)``, in order, and the summary.

        The base builds the exchange format from them and caches the summary.
        """

    @abstractmethod
    async def _import_state(self, content: list[tuple[Msg, list[str]]], summary: str) -> None:
        """Replace the session's messages, marks and summary with these, atomically.

        Args:
            content: Each message with its distinct marks; checked by the
                base, ids distinct, sizes within ``max_message_bytes``.
            summary: The summary to store; ``""`` for none.
        """

    # -- helpers for implementations -----------------------------------------

    def _summary_msg(self, summary: str) -> Msg:
        """Return the message that stands for ``summary`` at the head of a read."""
        return Msg("user", summary, "user")
