"""The hooks a memory backend implements: one per operation, normalised types in.

:class:`~memmark.core.MemoryBase` checks and normalises the public arguments,
answers the trivial cases, and calls these. A backend implements every one;
it never restates a public signature.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from memmark.core.batch import BatchResult, Operation
from memmark.core.msg import Msg
from memmark.core.pages import MessagePage, PageQuery
from memmark.core.sessions import SessionInfo, SessionKey

StateContent = list[tuple[dict[str, Any], list[str]]]
"""What :meth:`MemoryHooks._export_state` returns: each message's ``to_dict()`` and its marks."""


class MemoryHooks(ABC):
    """What a backend implements; see :class:`~memmark.core.MemoryBase` for the contract."""

    @abstractmethod
    async def _add(self, msgs: list[Msg], marks: list[str], skip_duplicated: bool) -> None:
        """Store ``msgs`` in order, each with every mark in ``marks``, atomically.

        Skip (marks included) a message whose id is already stored, and a
        later message with the id of an earlier one in ``msgs``.

        Args:
            msgs: The messages, checked; never empty. Copy or encode them
                now: the caller may change them later (unless the backend's
                ``_takes_copies`` is true: then they are copies of its own).
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
        """Remove every message and mark of the session, but not its summary or state slot."""

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
    async def _export_state(self) -> tuple[StateContent, str, str | None]:
        """Return every message as ``(msg.to_dict(), marks)`` in order, the summary, and the state.

        The state is the session state slot's JSON text, ``None`` when unset.
        The base builds the exchange format from them and caches the summary.
        """

    @abstractmethod
    async def _import_state(
        self, content: list[tuple[Msg, list[str]]], summary: str, session_state: str | None
    ) -> None:
        """Replace the session's messages, marks, summary and state slot, atomically.

        Args:
            content: Each message with its distinct marks; checked by the
                base, ids distinct, sizes within ``max_message_bytes``.
            summary: The summary to store; ``""`` for none.
            session_state: The state slot's JSON text; ``None`` for none.
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
        """Remove the session atomically; return whether it existed.

        Everything goes: messages, marks, summary, state slot, remembered
        batch ids, version and listing.
        """

    # -- contract v2: batches, pages, reads by id, the state slot -------------

    @abstractmethod
    async def _apply(
        self, ops: list[Operation], expect_version: int | None, batch_id: str | None
    ) -> BatchResult:
        """Apply ``ops`` in order as one unit: all of them, or on any error none.

        One transaction on SQL, one script run on Redis. In this order:

        1. ``batch_id`` set and already applied to this session: write
           nothing, return ``BatchResult([], <version now>, replayed=True)``.
        2. ``expect_version`` set and not the session's version (``0`` for a
           session never written): raise
           :class:`~memmark.core.errors.VersionConflictError` with both.
        3. An ``AddOp`` with ``skip_duplicated`` false whose ids the session
           holds (as the batch began): raise
           :class:`~memmark.core.errors.DuplicateMessageError` with those ids,
           in the op's order. (The core has refused ids an earlier op of the
           batch writes.)
        4. Apply every op in order, move the version on (by one or more),
           remember ``batch_id`` (until :meth:`_delete_session`), and return
           one result per op (see :data:`memmark.core.batch.Operation`) and
           the version after the batch.

        Args:
            ops: Checked operations; never empty.
            expect_version: The version the session must be at, or ``None``.
            batch_id: The batch's id, or ``None``.
        """

    @abstractmethod
    async def _get_page(self, query: PageQuery) -> MessagePage:
        """Read one page, as :meth:`~memmark.core.MemoryBase.get_page` says, in one snapshot.

        Args:
            query: The page asked for, checked.

        Raises:
            MessageNotFoundError: The cursor is not stored
                (``query.cursor_not_found()``).
        """

    @abstractmethod
    async def _get_messages(self, ids: list[str]) -> list[Msg]:
        """Return the stored messages among ``ids`` (distinct, never empty), in session order."""

    @abstractmethod
    async def _get_session_state(self) -> str | None:
        """Return the session state slot's JSON text, as stored; ``None`` when unset."""
