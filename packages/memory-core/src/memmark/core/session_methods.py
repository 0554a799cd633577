"""The contract's methods on a session as a whole, and a memory's lifetime.

The version, the listing of a store's sessions, deleting one, exporting and
importing it whole, and closing the memory: checked here, once, and passed
to the hooks of :class:`~memmark.core.hooks.MemoryHooks`, as the writes and
reads of :class:`~memmark.core.MemoryBase` (which inherits these) are.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from typing import Any

from memmark.core import batch as ops
from memmark.core import checks
from memmark.core.closing import AsyncClosing
from memmark.core.errors import MemoryClosedError
from memmark.core.hooks import MemoryHooks
from memmark.core.sessions import SessionPage, decode_cursor, encode_cursor


def build_state(
    content: Iterable[tuple[dict[str, Any], list[str]]],
    summary: str,
    session_state: str | None = None,
) -> dict[str, Any]:
    """Return the exchange format ``{"content": [[msg_dict, [marks]], ...]}``.

    ``"_compressed_summary"`` is added only when ``summary`` is not empty, as
    the in-process memory's ``state_dict()`` has always done, and
    ``"_session_state"`` (the decoded document) only when the slot is set.

    Args:
        content: Each message as its ``to_dict()`` form, with its marks, in order.
        summary: The session's summary; ``""`` for none.
        session_state: The state slot's JSON text; ``None`` for none.
    """
    state: dict[str, Any] = {"content": [[data, marks] for data, marks in content]}
    if summary:
        state["_compressed_summary"] = summary
    if session_state is not None:
        state["_session_state"] = ops.decode_session_state(session_state)
    return state


class SessionMethods(MemoryHooks, AsyncClosing):
    """The methods of :class:`~memmark.core.MemoryBase` on the whole session and its lifetime."""

    max_message_bytes: int | None
    _compressed_summary: str = ""
    _closed: bool = False

    @property
    def _takes_copies(self) -> bool:
        """Whether the write hooks get copies of the caller's messages, not the messages.

        True for a backend that keeps the messages it is given as they are
        (the in-process one): the checks then copy each message in the walk
        that checks it. Others encode the messages, and copying would be waste.
        """
        return False

    async def version(self) -> int:
        """Return the session's version; ``0`` for a session never written or deleted.

        Every call of a write method that reaches the store (``add``,
        ``upsert``, ``delete``, ``delete_by_mark``, ``clear``,
        ``update_messages_mark``, ``update_compressed_summary``, ``pop``,
        ``set_session_state``, ``import_state``, a batch's ``commit``)
        moves the version on, by one or more, also when it changed nothing (an ``add`` of ids
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
        """Remove the whole session: messages, marks, summary, state slot, batch ids, listing.

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

        ``"_compressed_summary"`` is included when a summary is set, and
        ``"_session_state"`` when the state slot is. The
        format is the in-process memory's ``state_dict()``, so a session can
        move between backends.
        """
        self._ensure_open()
        content, summary, session_state = await self._export_state()
        self._compressed_summary = summary
        return build_state(content, summary, session_state)

    async def import_state(self, state: dict[str, Any]) -> None:
        """Replace the session's content with ``state``, atomically.

        Its messages and marks, its summary (none when the state carries no
        ``_compressed_summary``) and its state slot (likewise
        ``_session_state``).

        Raises:
            ValueError: The state is malformed, or holds a message ``add``
                would refuse (over ``max_message_bytes``: a
                :class:`~memmark.core.errors.MessageTooLargeError`); the
                session is left as it was.
            KeyError: ``content`` is missing.
            TypeError: ``state`` is not a dict.
        """
        self._ensure_open()
        content, summary = checks.parse_state(
            state, True, self.max_message_bytes, copy=self._takes_copies
        )
        assert content is not None  # strict: a missing content raised KeyError
        slot = ops.session_state_op(state.get("_session_state"), self.max_message_bytes)
        await self._import_state(content, summary, slot.text)
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

    async def _close(self) -> None:  # a no-op is right for owners of nothing
        """Hook: release what the memory owns (called once, by :meth:`close`)."""
