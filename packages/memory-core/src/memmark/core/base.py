"""The contract every memory backend keeps: the public methods, checked once, here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from memmark.core import batch as ops
from memmark.core import checks
from memmark.core.batch import Batch, BatchResult, Operation
from memmark.core.errors import VersionConflictError
from memmark.core.hooks import StateContent
from memmark.core.msg import Msg
from memmark.core.pages import MessagePage, PageQuery
from memmark.core.session_methods import SessionMethods, build_state

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Messages larger than this (as UTF-8 JSON) are refused unless a memory says otherwise."""

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "MemoryBase", "StateContent", "build_state"]

_Op = TypeVar("_Op", bound=Operation)


class MemoryBase(SessionMethods):
    """A store of messages and their marks for one ``(user_id, session_id)``.

    The public methods are the contract, and they are concrete: each checks
    and normalises its arguments, answers the trivial cases itself (nothing
    to add, no ids to delete), then calls one abstract hook with
    already-normalised types. A backend implements the hooks of
    :class:`~memmark.core.hooks.MemoryHooks` plus the sync ``state_dict``
    and ``load_state_dict``, and never restates a public signature.

    Every write method takes ``expect_version=``: the write then applies
    only if the session is at that version, and otherwise raises
    :class:`~memmark.core.errors.VersionConflictError` with nothing written.
    Several writes go as one unit through :meth:`batch`.

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

    # -- writes ---------------------------------------------------------------

    async def add(
        self,
        memories: Msg | list[Msg] | None,
        marks: str | list[str] | None = None,
        *,
        skip_duplicated: bool = True,
        expect_version: int | None = None,
    ) -> None:
        """Append messages, in order, each carrying every mark in ``marks``.

        A message whose id is already in the session, or earlier in the same
        call, is skipped whole (marks included).

        Args:
            memories: A ``Msg``, a list of ``Msg``, or ``None`` (nothing to do).
            marks: ``None``, a non-empty string, or a list of them.
            skip_duplicated: When false, a duplicate id raises instead, and
                nothing of the call is written.
            expect_version: Write only if the session is at this version.

        Raises:
            DuplicateMessageError: ``skip_duplicated`` is false and an id is taken.
            VersionConflictError: The session is not at ``expect_version``.
        """
        self._ensure_open()
        op = ops.add_op(
            memories, marks, skip_duplicated, self.max_message_bytes, copy=self._takes_copies
        )
        if expect_version is not None:
            await self._write_one(op, expect_version)
        elif op is not None:
            await self._add(op.msgs, op.marks, op.skip_duplicated)

    async def upsert(
        self,
        memories: Msg | list[Msg] | None,
        marks: str | list[str] | None = None,
        *,
        expect_version: int | None = None,
    ) -> int:
        """Write messages by id: replace the stored ones in place, append the others.

        A replaced message keeps its place in the order and its marks; every
        message written, replaced or new, also gets every mark in ``marks``.
        When an id repeats in the call, its last message is written, at the
        place of the first.

        Args:
            memories: A ``Msg``, a list of ``Msg``, or ``None`` (nothing to do).
            marks: ``None``, a non-empty string, or a list of them.
            expect_version: Write only if the session is at this version.

        Returns:
            How many of the ids were stored before the call (and replaced).
        """
        self._ensure_open()
        op = ops.upsert_op(memories, marks, self.max_message_bytes, copy=self._takes_copies)
        result: int = await self._write_one(op, expect_version, 0)
        return result

    async def delete(
        self, msg_ids: str | Iterable[str], *, expect_version: int | None = None
    ) -> int:
        """Remove messages by id, with their marks.

        Args:
            msg_ids: One id, or an iterable of ids.
            expect_version: Write only if the session is at this version.

        Returns:
            How many messages were really removed; unknown ids count 0.
        """
        self._ensure_open()
        op = ops.delete_op(msg_ids)
        return await self._counted_write(op, expect_version, lambda op: self._delete(op.ids))

    async def delete_by_mark(
        self, mark: str | list[str], *, expect_version: int | None = None
    ) -> int:
        """Remove every message carrying any of the marks.

        Args:
            mark: A mark or a list of marks.
            expect_version: Write only if the session is at this version.

        Returns:
            The number of messages removed.
        """
        self._ensure_open()
        op = ops.delete_by_mark_op(mark)
        return await self._counted_write(
            op, expect_version, lambda op: self._delete_by_mark(op.marks)
        )

    async def clear(self, *, expect_version: int | None = None) -> None:
        """Remove every message and mark of the session; the summary and state slot stay."""
        self._ensure_open()
        if expect_version is not None:
            await self._write_one(ops.ClearOp(), expect_version)
        else:
            await self._clear()

    async def update_messages_mark(
        self,
        new_mark: str | None,
        old_mark: str | None = None,
        msg_ids: str | Iterable[str] | None = None,
        *,
        expect_version: int | None = None,
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
        op = ops.update_marks_op(new_mark, old_mark, msg_ids)
        return await self._counted_write(
            op,
            expect_version,
            lambda op: self._update_messages_mark(op.new_mark, op.old_mark, op.ids),
        )

    async def update_compressed_summary(
        self, summary: str, *, expect_version: int | None = None
    ) -> None:
        """Store the compressed summary of the session (``""`` removes it)."""
        self._ensure_open()
        checks.check_summary(summary)
        if expect_version is not None:
            await self._write_one(ops.SummaryOp(summary), expect_version)
            return
        await self._update_compressed_summary(summary)
        self._compressed_summary = summary

    async def pop(self, *, expect_version: int | None = None) -> Msg | None:
        """Remove the newest message, with its marks, and return it.

        Returns:
            The removed message; ``None`` when the session holds none (the
            version moves on all the same).
        """
        self._ensure_open()
        result: Msg | None = await self._write_one(ops.PopOp(), expect_version)
        return result

    async def set_session_state(
        self, state: dict[str, Any] | None, *, expect_version: int | None = None
    ) -> None:
        """Store the session's state slot: a small JSON document kept beside the messages.

        It holds what an agent keeps besides its messages (its iteration,
        its middlewares' contexts…), and can be written in the same
        :meth:`batch` as the messages. ``clear`` keeps it;
        ``delete_session`` removes it; ``export_state`` carries it.

        Args:
            state: A ``dict`` of JSON values (as a message's metadata may
                hold), at most ``max_message_bytes`` as JSON; ``None``
                removes the slot.
            expect_version: Write only if the session is at this version.
        """
        self._ensure_open()
        await self._write_one(ops.session_state_op(state, self.max_message_bytes), expect_version)

    def batch(self, *, expect_version: int | None = None, batch_id: str | None = None) -> Batch:
        """Start a batch: writes recorded now and applied as one unit by ``commit()``.

        ::

            result = await (
                memory.batch(expect_version=v, batch_id="turn-7")
                .add(user_msg)
                .upsert(reply)
                .update_compressed_summary(summary)
                .commit()
            )

        All or nothing, in order: one transaction on SQL, one script run on
        Redis. See :class:`~memmark.core.batch.Batch`.

        Args:
            expect_version: Apply only if the session is at this version;
                otherwise :class:`~memmark.core.errors.VersionConflictError`
                and nothing is written.
            batch_id: An id for the batch: a batch whose id the session has
                seen applies nothing and reports ``replayed=True``, so a
                retried batch writes once. Ids are kept until
                ``delete_session``. An ``add`` with ``skip_duplicated=False``
                in a batch checks its ids against the session as the batch
                began and the batch's earlier writes.
        """
        self._ensure_open()
        return Batch(self, expect_version, batch_id)

    async def _run_batch(
        self, batch_ops: list[Operation], expect_version: int | None, batch_id: str | None
    ) -> BatchResult:
        """Apply checked operations through ``_apply``; what ``Batch.commit`` calls."""
        self._ensure_open()
        if not batch_ops:
            version = await self._version()
            if expect_version is not None and expect_version != version:
                raise VersionConflictError(expect_version, version)
            return BatchResult([], version)
        ops.check_batch(batch_ops)
        result = await self._apply(batch_ops, expect_version, batch_id)
        if not result.replayed:
            for op in reversed(batch_ops):
                if isinstance(op, ops.SummaryOp):
                    self._compressed_summary = op.summary
                    break
        return result

    async def _counted_write(
        self,
        op: _Op | None,
        expect_version: int | None,
        direct: Callable[[_Op], Awaitable[int]],
    ) -> int:
        """A write answering a count: a batch of one with ``expect_version``, else its hook.

        ``op`` is ``None`` when there is nothing to do: the count is 0.
        """
        if expect_version is not None:
            result: int = await self._write_one(op, expect_version, 0)
            return result
        return 0 if op is None else await direct(op)

    async def _write_one(
        self, op: Operation | None, expect_version: object, answer: Any = None
    ) -> Any:
        """Apply one write as a batch of one; ``answer`` when ``op`` is ``None``."""
        expected = ops.check_expect_version(expect_version)
        result = await self._run_batch([] if op is None else [op], expected, None)
        return result.results[0] if op is not None else answer

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

    async def get_page(
        self,
        *,
        limit: int = 50,
        before: str | None = None,
        after: str | None = None,
        mark: str | None = None,
        exclude_mark: str | None = None,
    ) -> MessagePage:
        """Return one page of messages, oldest first, with the version it was read at.

        The selection is the session's messages, narrowed by ``mark`` and
        ``exclude_mark`` as in :meth:`get_memory`. Without a cursor the page
        is the newest ``limit`` of it; with ``before=<id>`` the newest
        ``limit`` older than that message; with ``after=<id>`` the oldest
        ``limit`` newer than it. The cursor's message need not be in the
        selection. Walk back with ``before=page.messages[0].id`` while
        ``has_more``; forward with ``after=page.messages[-1].id``. No summary
        message is put first.

        Args:
            limit: The most messages on the page, at least 1.
            before: A stored message's id; not with ``after``.
            after: A stored message's id; not with ``before``.
            mark: Only messages carrying this mark.
            exclude_mark: Only messages not carrying this mark.

        Raises:
            MessageNotFoundError: The cursor's message is not in the session
                (a ``LookupError``).
            ValueError: ``limit`` below 1, or both cursors.
        """
        self._ensure_open()
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise TypeError(f"limit: expected an int, got {type(limit).__name__}")
        if limit < 1:
            raise ValueError(f"limit: expected at least 1, got {limit}")
        if before is not None and after is not None:
            raise ValueError("before, after: give one cursor, not both")
        for cursor, arg in ((before, "before"), (after, "after")):
            if cursor is not None:
                checks.check_text(cursor, arg)
        mark = checks.check_optional_mark(mark, "mark")
        exclude_mark = checks.check_optional_mark(exclude_mark, "exclude_mark")
        # checks.NO_LIMIT_FROM or more is every message, and no driver sees more.
        limit = min(limit, checks.NO_LIMIT_FROM - 1)
        return await self._get_page(PageQuery(limit, before, after, mark, exclude_mark))

    async def get_messages(self, msg_ids: str | Iterable[str]) -> list[Msg]:
        """Return the stored messages among ``msg_ids``, in the session's order.

        Ids the session does not hold are left out; an id asked twice comes once.
        """
        self._ensure_open()
        ids = checks.check_ids(msg_ids, "msg_ids")
        return await self._get_messages(ids) if ids else []

    async def get_session_state(self) -> dict[str, Any] | None:
        """Return the session's state slot (see :meth:`set_session_state`); ``None`` when unset.

        The document is a fresh copy: changing it changes nothing stored.
        """
        self._ensure_open()
        return ops.decode_session_state(await self._get_session_state())

    # -- helpers for implementations -----------------------------------------

    def _summary_msg(self, summary: str) -> Msg:
        """Return the message that stands for ``summary`` at the head of a read."""
        return Msg("user", summary, "user")
