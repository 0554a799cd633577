"""The in-process memory: the embedded default."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from itertools import count, islice
from typing import Any, ClassVar

from memmark.core import batch as ops
from memmark.core import checks
from memmark.core._mark_index import MarkIndex
from memmark.core.base import MemoryBase, StateContent, build_state
from memmark.core.batch import BatchResult
from memmark.core.errors import DuplicateMessageError, VersionConflictError
from memmark.core.msg import Msg
from memmark.core.pages import MessagePage, PageQuery
from memmark.core.sessions import SessionInfo, SessionKey, follows


def _as_given(msg: Msg) -> Msg:
    # The stored object of a message that is already the memory's own copy.
    return msg


def _moved(msg: Msg, cls: type[Msg]) -> Msg:
    # The fields of a copy the memory owns, in a new object of ``cls``.
    return cls.sharing_fields_of(msg)


# One counter for every in-process session: a session deleted and written
# again, or a new store standing for a dropped one, never repeats a version
# some handle may still hold.
_versions = count(1)


class InMemoryMemory(MarkIndex, MemoryBase):
    """Messages and marks kept in this process, indexed both ways.

    The messages live in one insertion-ordered dict keyed by id, and every
    mark has an index of the ids carrying it. Adding, deleting by id and
    ``size`` cost O(1) per message in the length of the session (and
    O(distinct marks) per deleted message); reading or deleting by mark
    costs O(messages carrying the mark), never a scan of the session; a
    re-mark of a whole mark (``update_messages_mark(new, old)``) moves the
    index at once.

    Messages are copied on the way in, so later changes to the caller's
    ``Msg`` do not reach the store. ``get_memory`` returns the stored objects
    themselves (no copy per read, which keeps reads of long sessions cheap):
    treat them as read-only, or call ``Msg.copy()`` before changing one.

    ``state_dict()`` returns ``{"content": [[msg_dict, [marks]], ...]}`` plus
    ``"_compressed_summary"`` when a summary is set. ``load_state_dict`` with
    ``strict=False`` and no ``content`` key keeps the current messages.

    The memory is a store of one session: ``list_sessions`` lists it (once
    written, as :attr:`listed_as` says) and nothing else, and
    ``delete_session`` empties it and sets its version back to 0. Every
    write, and a ``load_state_dict`` that stores something, moves the
    version on from one counter shared by the whole process.

    Attributes:
        listed_as: The ``(user_id, session_id)`` the memory lists itself as;
            ``("default_user", "default_session")`` unless whoever made it
            knows better.
    """

    listed_as: tuple[str, str] = ("default_user", "default_session")

    def __init__(self) -> None:
        super().__init__()
        self._compressed_summary = ""
        self._summary_cache: Msg | None = None
        self._version_now = 0  # 0: never written, or deleted since
        self._updated_at = 0.0
        self._session_state: str | None = None  # the state slot's JSON text
        self._batch_ids: set[str] = set()
        # On the instance, not only the base class: size() reads it on every
        # call, and an instance attribute is found first.
        self._closed = False

    def _written(self) -> None:
        """Move the version on and stamp the time: called by every write that reaches the store."""
        self._version_now = next(_versions)
        self._updated_at = time.time()

    stored_class: ClassVar[type[Msg]] = Msg
    """The class of the stored messages: ``Msg``, or a subclass with no fields of its own.

    A subclass of the memory may set a subclass of ``Msg`` (say, one that is
    also another framework's message class), so that ``get_memory``, which
    returns the stored objects, hands out that class with no conversion per
    read. The checks' copy of each message is moved into one, its fields
    set one by one: nothing is walked again.
    """

    def stored_copy(self, msg: Msg) -> Msg:
        """Return the object stored for ``msg``, which ``add`` and ``load_state_dict`` get.

        By default a copy of ``msg`` as :attr:`stored_class`, which the
        memory then skips: the checks copy a message in the walk that checks
        it, and that copy is stored. A subclass may override it to store
        something else, at the cost of that second walk. ``state_dict`` and
        ``export_state`` write ``Msg.to_dict`` of each, whatever the class.
        The result must not share mutable content or metadata with ``msg``.
        """
        copied = msg.copy()
        cls = self.stored_class
        return copied if cls is Msg else _moved(copied, cls)

    @property
    def _takes_copies(self) -> bool:
        # The checks copy the messages as they walk them, and those copies
        # are stored as they are: one walk of each message, not two. A
        # subclass that overrides stored_copy gets the caller's messages and
        # makes its own copies.
        return type(self).stored_copy is InMemoryMemory.stored_copy

    @property
    def _keep(self) -> Callable[[Msg], Msg]:
        """What turns a message a write hook receives into the object stored."""
        if not self._takes_copies:
            return self.stored_copy
        cls = self.stored_class
        return _as_given if cls is Msg else partial(_moved, cls=cls)

    # -- writes ---------------------------------------------------------------

    async def _add(self, msgs: list[Msg], marks: list[str], skip_duplicated: bool) -> None:
        stored = self._msgs
        if not skip_duplicated:
            taken = [m.id for m in msgs if m.id in stored]
            if taken:
                raise DuplicateMessageError(taken)
        self._written()
        keep = self._keep
        if len(msgs) == 1:  # the common case, without the batch's dicts
            msg = msgs[0]
            if msg.id in stored:
                return
            batch = {msg.id: keep(msg)}
        elif keep is _as_given:
            batch = {}
            for msg in msgs:
                if msg.id not in stored and msg.id not in batch:
                    batch[msg.id] = msg
        else:
            batch = {}
            for msg in msgs:
                if msg.id not in stored and msg.id not in batch:
                    batch[msg.id] = keep(msg)
        stored.update(batch)
        self._seq.update(zip(batch, self._counter, strict=False))
        # New messages are the newest, so appending keeps every index ordered.
        for mark in marks:
            index = self._by_mark.get(mark)
            if index is None:
                self._by_mark[mark] = dict.fromkeys(batch)
            else:
                index.update(dict.fromkeys(batch))

    async def _delete(self, ids: list[str]) -> int:
        self._written()
        gone = self._drop_msgs(ids)
        if gone and self._by_mark:
            self._unmark_ids(gone)
        return len(gone)

    async def _delete_by_mark(self, marks: list[str]) -> int:
        self._written()
        doomed: dict[str, None] = {}
        for one in marks:
            index = self._by_mark.pop(one, None)
            if index is not None:
                self._unordered.discard(one)
                doomed.update(index)
        if doomed:
            self._drop_msgs(doomed)
            self._unmark_ids(doomed)
        return len(doomed)

    async def _clear(self) -> None:
        self._written()
        self._msgs.clear()
        self._seq.clear()
        self._by_mark.clear()
        self._unordered.clear()

    async def _update_messages_mark(
        self, new_mark: str | None, old_mark: str | None, msg_ids: list[str] | None
    ) -> int:
        self._written()
        ids = msg_ids
        by_mark = self._by_mark

        if old_mark is not None:
            carrying = by_mark.get(old_mark)
            if not carrying:
                return 0
            if ids is None:
                # Every carrier changes: move the whole index at once.
                del by_mark[old_mark]
                selected = carrying
                was_unordered = old_mark in self._unordered
                self._unordered.discard(old_mark)
            else:
                selected = dict.fromkeys(i for i in ids if i in carrying)
                self._unmark_ids(selected, [old_mark])
                was_unordered = False
            if new_mark is not None:
                if new_mark not in by_mark:
                    by_mark[new_mark] = selected
                    if was_unordered or ids is not None:
                        self._unordered.add(new_mark)
                else:
                    self._mark_ids(new_mark, selected)
            return len(selected)

        if new_mark is not None:
            index = by_mark.get(new_mark, {})
            if ids is None:
                fresh = [i for i in self._msgs if i not in index] if index else list(self._msgs)
            else:
                fresh = [i for i in ids if i in self._msgs and i not in index]
            if fresh:
                self._mark_ids(new_mark, fresh, in_order=ids is None)
            return len(fresh)

        # Both None: every mark of the selected messages goes.
        if ids is None:
            marked: set[str] = set().union(*by_mark.values())
            by_mark.clear()
            self._unordered.clear()
            return len(marked)
        hit = [i for i in dict.fromkeys(ids) if any(i in index for index in by_mark.values())]
        self._unmark_ids(hit)
        return len(hit)

    async def _update_compressed_summary(self, summary: str) -> None:
        # The base keeps the summary in self._compressed_summary.
        self._written()

    def _summary_msg(self, summary: str) -> Msg:
        # One message per summary text, not one per read: making a Msg draws
        # a fresh id, which would cost more than the rest of a short read.
        cached = self._summary_cache
        if cached is None or cached.content != summary:
            cached = self._summary_cache = super()._summary_msg(summary)
        return cached

    # -- reads ----------------------------------------------------------------

    async def size(self) -> int:
        """Return the number of messages in the session."""
        # The public method's check, then the answer, in one coroutine: an
        # agent asks for the size on every step, and awaiting the hook's
        # coroutine as well doubled the call (167 ns against 85 ns).
        if self._closed:
            self._ensure_open()
        return len(self._msgs)

    async def _size(self) -> int:
        return len(self._msgs)

    async def _get_memory(
        self, mark: str | None, exclude_mark: str | None, limit: int | None, with_summary: bool
    ) -> tuple[list[Msg], str | None]:
        msgs = self._msgs
        result: list[Msg]
        if mark is not None:
            carrying = self._ids_with(mark)
            if exclude_mark is not None:
                excluded = self._by_mark.get(exclude_mark, {})
                result = [msgs[i] for i in carrying if i not in excluded]
            else:
                result = [msgs[i] for i in carrying]
            if limit is not None:
                result = result[len(result) - limit :] if limit < len(result) else result
        elif exclude_mark is not None:
            excluded = self._by_mark.get(exclude_mark, {})
            if limit is None:
                result = [m for i, m in msgs.items() if i not in excluded]
            else:
                # Walk from the newest end and stop after ``limit`` hits.
                newest = (m for i, m in reversed(msgs.items()) if i not in excluded)
                result = list(islice(newest, limit))[::-1]
        elif limit is None:
            result = list(msgs.values())
        else:
            result = list(islice(reversed(msgs.values()), limit))[::-1]
        return result, self._compressed_summary

    # -- state ----------------------------------------------------------------

    def _content(self) -> StateContent:
        marks_of: dict[str, list[str]] = {}
        for mark, ids in self._by_mark.items():
            for msg_id in ids:
                marks_of.setdefault(msg_id, []).append(mark)
        # Msg's own to_dict: a stored subclass (see stored_copy) keeps the format.
        to_dict = Msg.to_dict
        return [(to_dict(msg), marks_of.get(msg_id, [])) for msg_id, msg in self._msgs.items()]

    def state_dict(self) -> dict[str, Any]:
        """Return ``{"content": [[msg_dict, [marks]], ...]}`` (+ summary and state slot if set)."""
        return build_state(self._content(), self._compressed_summary, self._session_state)

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Replace the memory with ``state``; on error nothing changes.

        Raises:
            ValueError: The state is malformed.
            KeyError: ``content`` is missing and ``strict`` is true.
            TypeError: ``state`` is not a dict.
        """
        content, summary = checks.parse_state(
            state, strict, self.max_message_bytes, copy=self._takes_copies
        )
        if content is None and summary == self._compressed_summary:
            return  # nothing to store (AgentScope's adapter sets its summary so): no write
        if content is not None:
            slot = ops.session_state_op(state.get("_session_state"), self.max_message_bytes)
            self._replace(content)
            self._session_state = slot.text
        self._compressed_summary = summary
        self._written()

    def _replace(self, content: list[tuple[Msg, list[str]]]) -> None:
        # Copied so that later changes to the caller's state do not leak in.
        keep = self._keep
        self._msgs = {msg.id: keep(msg) for msg, _ in content}
        self._counter = count()
        self._seq = dict(zip(self._msgs, self._counter, strict=False))
        self._by_mark = {}
        for msg, marks in content:
            for mark in marks:
                self._by_mark.setdefault(mark, {})[msg.id] = None
        self._unordered = set()

    async def _export_state(self) -> tuple[StateContent, str, str | None]:
        return self._content(), self._compressed_summary, self._session_state

    async def _import_state(
        self, content: list[tuple[Msg, list[str]]], summary: str, session_state: str | None
    ) -> None:
        self._replace(content)
        self._session_state = session_state
        self._written()

    # -- the session ----------------------------------------------------------

    def session_info(self, user_id: str, session_id: str) -> SessionInfo | None:
        """Return what a listing says of this store as ``(user_id, session_id)``.

        ``None`` while the store was never written (or since it was deleted).
        """
        if not self._version_now:
            return None
        return SessionInfo(
            user_id, session_id, len(self._msgs), self._version_now, self._updated_at
        )

    def forget(self) -> bool:
        """Empty the store and set its version back to 0; return whether it was written."""
        existed = self._version_now > 0
        self._replace([])
        self._compressed_summary = ""
        self._session_state = None
        self._batch_ids = set()
        self._version_now = 0
        self._updated_at = 0.0
        return existed

    async def _version(self) -> int:
        return self._version_now

    async def _list_sessions(
        self, all_users: bool, limit: int, after: SessionKey | None
    ) -> list[SessionInfo]:
        info = self.session_info(*self.listed_as)
        if info is None or not follows(after, info):
            return []
        return [info][:limit]

    async def _delete_session(self) -> bool:
        return self.forget()

    # -- batches, pages, reads by id, the state slot -------------------------

    async def _apply(
        self, batch_ops: list[ops.Operation], expect_version: int | None, batch_id: str | None
    ) -> BatchResult:
        # Every hook below runs to its end without suspending, so the batch
        # is atomic against other tasks; and nothing in it can fail once the
        # checks here have passed, so all or nothing needs no undo log.
        if batch_id is not None and batch_id in self._batch_ids:
            return BatchResult([], self._version_now, replayed=True)
        if expect_version is not None and expect_version != self._version_now:
            raise VersionConflictError(expect_version, self._version_now)
        stored = self._msgs
        for op in batch_ops:
            if isinstance(op, ops.AddOp) and not op.skip_duplicated:
                taken = [m.id for m in op.msgs if m.id in stored]
                if taken:
                    raise DuplicateMessageError(taken)
        results = [await self._apply_one(op) for op in batch_ops]
        if batch_id is not None:
            self._batch_ids.add(batch_id)
        return BatchResult(results, self._version_now)

    async def _apply_one(self, op: ops.Operation) -> Any:
        if isinstance(op, ops.AddOp):
            return await self._add(op.msgs, op.marks, True)  # duplicates checked up front
        if isinstance(op, ops.UpsertOp):
            return self._upsert(op.msgs, op.marks)
        if isinstance(op, ops.DeleteOp):
            return await self._delete(op.ids)
        if isinstance(op, ops.DeleteByMarkOp):
            return await self._delete_by_mark(op.marks)
        if isinstance(op, ops.ClearOp):
            return await self._clear()
        if isinstance(op, ops.UpdateMarksOp):
            return await self._update_messages_mark(op.new_mark, op.old_mark, op.ids)
        if isinstance(op, ops.SummaryOp):
            self._compressed_summary = op.summary
            return await self._update_compressed_summary(op.summary)
        if isinstance(op, ops.SessionStateOp):
            self._written()
            self._session_state = op.text
            return None
        return self._pop()

    def _upsert(self, msgs: list[Msg], marks: list[str]) -> int:
        self._written()
        stored = self._msgs
        keep = self._keep
        replaced: list[str] = []
        new: dict[str, Msg] = {}
        for msg in msgs:
            if msg.id in stored:
                stored[msg.id] = keep(msg)  # a dict keeps a key's place
                replaced.append(msg.id)
            else:
                new[msg.id] = keep(msg)
        stored.update(new)
        self._seq.update(zip(new, self._counter, strict=False))
        for mark in marks:
            self._mark_ids(mark, [*replaced, *new], in_order=not replaced)
        return len(replaced)

    def _pop(self) -> Msg | None:
        self._written()
        if not self._msgs:
            return None
        newest = next(reversed(self._msgs))
        msg = self._msgs[newest]
        self._drop_msgs([newest])
        if self._by_mark:
            self._unmark_ids([newest])
        return msg

    async def _get_page(self, query: PageQuery) -> MessagePage:
        msgs, has_more = self._page(query)
        return MessagePage(msgs, has_more, self._version_now)

    async def _get_messages(self, ids: list[str]) -> list[Msg]:
        msgs, seq = self._msgs, self._seq
        found = sorted((i for i in ids if i in msgs), key=seq.__getitem__)
        return [msgs[i] for i in found]

    async def _get_session_state(self) -> str | None:
        return self._session_state
