"""The contract every memory backend keeps, and the hooks a backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from types import TracebackType
from typing import Any, TypeVar

from memmark.core import checks
from memmark.core.errors import DuplicateMessageError, MemoryClosedError
from memmark.core.msg import Msg
from memmark.core.sessions import SessionInfo, SessionKey, SessionPage, decode_cursor, encode_cursor

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
    ``_export_state``, ``_import_state``, ``_version``, ``_list_sessions``,
    ``_delete_session``) plus the sync ``state_dict`` and
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
    _closed: bool = False

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
        self._ensure_open()
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
        self._ensure_open()
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
        self._ensure_open()
        if mark is None:
            raise TypeError("mark: expected a str or a list of str, got NoneType")
        marks = checks.check_marks(mark, "mark")
        if not marks:
            return 0
        return await self._delete_by_mark(marks)

    async def clear(self) -> None:
        """Remove every message and mark of the session; the summary stays."""
        self._ensure_open()
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
        self._ensure_open()
        new = checks.check_optional_mark(new_mark, "new_mark")
        old = checks.check_optional_mark(old_mark, "old_mark")
        ids = None if msg_ids is None else checks.check_ids(msg_ids, "msg_ids")
        if (ids is not None and not ids) or (new is not None and new == old):
            return 0  # nothing selected, or a mark removed and added back: no set changes
        return await self._update_messages_mark(new, old, ids)

    async def update_compressed_summary(self, summary: str) -> None:
        """Store the compressed summary of the session (``""`` removes it)."""
        self._ensure_open()
        checks.check_summary(summary)
        await self._update_compressed_summary(summary)
        self._compressed_summary = summary

    # -- reads ----------------------------------------------------------------

    async def size(self) -> int:
        """Return the number of messages in the session."""
        self._ensure_open()
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
        self._ensure_open()
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

    async def version(self) -> int:
        """Return the session's version; ``0`` for a session never written or deleted.

        Every call of a write method that reaches the store (``add``,
        ``delete``, ``delete_by_mark``, ``clear``, ``update_messages_mark``,
        ``update_compressed_summary``, ``import_state``) moves the version
        on, by one or more, also when it changed nothing (an ``add`` of ids
        already stored); a call the base answers itself (nothing to add, no
        ids) leaves it. Versions only increase, and a session deleted and
        written again never repeats a version it had: two reads that see the
        same version saw the same session.
        """
        self._ensure_open()
        return await self._version()

    async def list_sessions(
        self, *, all_users: bool = False, limit: int = 100, cursor: str | None = None
    ) -> SessionPage:
        """Return one page of the sessions of this memory's store.

        A session is listed from its first write until :meth:`delete_session`,
        also while it holds no message.

        Args:
            all_users: List every user's sessions, not only this memory's user's.
            limit: The most sessions on the page (at least 1).
            cursor: The ``next_cursor`` of the page before; ``None`` to start.

        Returns:
            The sessions, most recently written first (ties by user id, then
            session id), and the cursor of the next page. A session written
            between two pages moves to the front: a listing is a walk, not a
            snapshot.
        """
        self._ensure_open()
        checks.check_bool(all_users, "all_users")
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise TypeError(f"limit: expected an int, got {type(limit).__name__}")
        if limit < 1:
            raise ValueError(f"limit: expected at least 1, got {limit}")
        if cursor is not None and not isinstance(cursor, str):
            raise TypeError(f"cursor: expected a str or None, got {type(cursor).__name__}")
        start = None if cursor is None else decode_cursor(cursor)
        # A page of NO_LIMIT_FROM sessions or more is every session: no store
        # holds that many, and no driver then sees a number past its edge.
        limit = min(limit, checks.NO_LIMIT_FROM - 1)
        found = await self._list_sessions(all_users, limit + 1, start)
        page = found[:limit]
        # limit >= 1, so a page followed by more is never empty.
        return SessionPage(page, encode_cursor(page[-1].key) if len(found) > limit else None)

    async def delete_session(self) -> bool:
        """Remove the whole session: messages, marks, summary and its listing.

        Returns:
            Whether there was a session to remove.
        """
        self._ensure_open()
        removed = await self._delete_session()
        self._compressed_summary = ""
        return removed

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
        self._ensure_open()
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
        self._ensure_open()
        content, summary = checks.parse_state(state, True, self.max_message_bytes)
        assert content is not None  # strict: a missing content raised KeyError
        await self._import_state(content, summary)
        self._compressed_summary = summary

    # -- lifetime -------------------------------------------------------------

    async def close(self) -> None:
        """Release what the memory owns; never what the caller passed in.

        Every later call raises :class:`~memmark.core.errors.MemoryClosedError`;
        closing again does nothing. Open another memory on the same session
        to go on.
        """
        if not self._closed:
            self._closed = True
            await self._close()

    def _ensure_open(self) -> None:
        if self._closed:
            raise MemoryClosedError(
                f"this {type(self).__name__} is closed; open another memory to go on"
            )

    async def _close(self) -> None:  # noqa: B027  # a no-op is right for owners of nothing
        """Hook: release what the memory owns (called once, by :meth:`close`)."""

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

    @abstractmethod
    async def _version(self) -> int:
        """Return the session's version, ``0`` when it has none (see :meth:`version`)."""

    @abstractmethod
    async def _list_sessions(
        self, all_users: bool, limit: int, after: SessionKey | None
    ) -> list[SessionInfo]:
        """Return up to ``limit`` sessions in the listing order, those after ``after`` only.

        Args:
            all_users: Every user's sessions, or only this memory's user's.
            limit: The most to return (the base asks one more than a page).
            after: Only sessions after this key in the listing order (see
                :func:`memmark.core.sessions.after`); ``None`` from the start.

        Returns:
            The sessions, sorted by :func:`memmark.core.sessions.listing_order`.
        """

    @abstractmethod
    async def _delete_session(self) -> bool:
        """Remove the session and its listing atomically; return whether it existed."""

    # -- helpers for implementations -----------------------------------------

    def _summary_msg(self, summary: str) -> Msg:
        """Return the message that stands for ``summary`` at the head of a read."""
        return Msg("user", summary, "user")
