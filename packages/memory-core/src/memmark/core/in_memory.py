"""The in-process memory: the embedded default."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import count, islice
from typing import Any, cast

from memmark.core import _checks
from memmark.core.base import MemoryBase
from memmark.core.errors import DuplicateMessageError
from memmark.core.msg import Msg


class InMemoryMemory(MemoryBase):
    """Messages and marks kept in this process, indexed both ways.

    Adding, deleting by id and ``size`` cost O(1) per message; reading or
    deleting by mark costs O(messages carrying the mark), never a scan of the
    whole session.

    Messages are copied on the way in, so later changes to the caller's
    ``Msg`` do not reach the store. ``get_memory`` returns the stored objects
    themselves (no copy per read, which keeps reads of long sessions cheap):
    treat them as read-only, or call ``Msg.copy()`` before changing one.

    ``state_dict()`` returns ``{"content": [[msg_dict, [marks]], ...]}`` plus
    ``"_compressed_summary"`` when a summary is set. ``load_state_dict`` with
    ``strict=False`` and no ``content`` key keeps the current messages.
    """

    def __init__(self) -> None:
        # id -> message, in insertion order (dicts keep it, and pop is O(1)).
        self._msgs: dict[str, Msg] = {}
        # id -> position, to put a mark's index back in message order.
        self._seq: dict[str, int] = {}
        self._counter = count()
        # id -> its marks (ordered, as a dict); absent when it has none.
        self._marks_of: dict[str, dict[str, None]] = {}
        # mark -> ids carrying it; in message order unless listed in _unordered.
        self._by_mark: dict[str, dict[str, None]] = {}
        self._unordered: set[str] = set()
        self._compressed_summary = ""
        self._summary_cache: Msg | None = None

    # -- index upkeep ---------------------------------------------------------

    def _ids_with(self, mark: str) -> dict[str, None]:
        ids = self._by_mark.get(mark)
        if ids is None:
            return {}
        if mark in self._unordered:
            # Re-marking appends old messages at the end of the index; restore
            # message order once, at the next read (Timsort is linear on the
            # mostly sorted input this leaves).
            seq = self._seq
            ids = dict.fromkeys(sorted(ids, key=seq.__getitem__))
            self._by_mark[mark] = ids
            self._unordered.discard(mark)
        return ids

    def _put_mark(self, msg_id: str, mark: str) -> bool:
        marks = self._marks_of.get(msg_id)
        if marks is None:
            marks = self._marks_of[msg_id] = {}
        elif mark in marks:
            return False
        marks[mark] = None
        ids = self._by_mark.get(mark)
        if ids is None:
            self._by_mark[mark] = {msg_id: None}
        else:
            if ids and self._seq[next(reversed(ids))] > self._seq[msg_id]:
                self._unordered.add(mark)
            ids[msg_id] = None
        return True

    def _drop_mark(self, msg_id: str, mark: str) -> bool:
        marks = self._marks_of.get(msg_id)
        if marks is None or mark not in marks:
            return False
        del marks[mark]
        if not marks:
            del self._marks_of[msg_id]
        self._unlink(mark, msg_id)
        return True

    def _unlink(self, mark: str, msg_id: str) -> None:
        ids = self._by_mark[mark]
        del ids[msg_id]
        if not ids:
            del self._by_mark[mark]
            self._unordered.discard(mark)

    def _remove(self, msg_id: str) -> bool:
        if self._msgs.pop(msg_id, None) is None:
            return False
        del self._seq[msg_id]
        marks = self._marks_of.pop(msg_id, None)
        if marks:
            for mark in marks:
                self._unlink(mark, msg_id)
        return True

    def _insert(self, msg: Msg, marks: Iterable[str]) -> None:
        msg_id = msg.id
        self._msgs[msg_id] = msg
        self._seq[msg_id] = next(self._counter)
        if marks:
            # A new message is the newest, so every mark index stays ordered.
            self._marks_of[msg_id] = dict.fromkeys(marks)
            by_mark = self._by_mark
            for mark in marks:
                ids = by_mark.get(mark)
                if ids is None:
                    by_mark[mark] = {msg_id: None}
                else:
                    ids[msg_id] = None

    # -- writes ---------------------------------------------------------------

    async def add(
        self,
        memories: Msg | list[Msg] | None,
        marks: str | list[str] | None = None,
        *,
        skip_duplicated: bool = True,
    ) -> None:
        """Append messages with their marks; see :meth:`MemoryBase.add`."""
        msgs = cast("list[Msg]", memories)  # checked and normalised by MemoryBase
        mark_list = cast("list[str] | None", marks) or ()
        stored = self._msgs
        if not skip_duplicated:
            taken = [m.id for m in msgs if m.id in stored]
            taken += _checks.find_duplicates(msgs)
            if taken:
                raise DuplicateMessageError(list(dict.fromkeys(taken)))
        for msg in msgs:
            if msg.id not in stored:
                self._insert(msg.copy(), mark_list)

    async def delete(self, msg_ids: str | Iterable[str]) -> int:
        """Remove messages by id; see :meth:`MemoryBase.delete`."""
        remove = self._remove
        return sum(remove(i) for i in cast("list[str]", msg_ids))

    async def delete_by_mark(self, mark: str | list[str]) -> int:
        """Remove messages carrying any of the marks; see :meth:`MemoryBase.delete_by_mark`."""
        doomed: dict[str, None] = {}
        for one in cast("list[str]", mark):
            doomed.update(self._by_mark.get(one, ()))
        remove = self._remove
        for msg_id in doomed:
            remove(msg_id)
        return len(doomed)

    async def clear(self) -> None:
        """Remove every message and mark; the summary stays."""
        self._msgs.clear()
        self._seq.clear()
        self._marks_of.clear()
        self._by_mark.clear()
        self._unordered.clear()

    async def update_messages_mark(
        self,
        new_mark: str | None,
        old_mark: str | None = None,
        msg_ids: str | Iterable[str] | None = None,
    ) -> int:
        """Re-mark messages; see :meth:`MemoryBase.update_messages_mark`."""
        if new_mark is not None and new_mark == old_mark:
            return 0  # removing and re-adding the same mark changes no set
        ids = cast("list[str] | None", msg_ids)
        selected: Iterable[str]
        if old_mark is not None:
            carrying = self._by_mark.get(old_mark, {})
            selected = list(carrying) if ids is None else [i for i in ids if i in carrying]
        elif ids is not None:
            selected = [i for i in ids if i in self._msgs]
        elif new_mark is None:
            selected = list(self._marks_of)  # only messages with marks can change
        else:
            selected = list(self._msgs)

        changed = 0
        if new_mark is not None:
            for msg_id in selected:
                dropped = old_mark is not None and self._drop_mark(msg_id, old_mark)
                changed += self._put_mark(msg_id, new_mark) or dropped
        elif old_mark is not None:
            for msg_id in selected:
                changed += self._drop_mark(msg_id, old_mark)
        else:
            for msg_id in selected:
                marks = self._marks_of.pop(msg_id, None)
                if marks:
                    for mark in marks:
                        self._unlink(mark, msg_id)
                    changed += 1
        return changed

    async def update_compressed_summary(self, summary: str) -> None:
        """Store the compressed summary; ``""`` removes it."""
        self._compressed_summary = summary
        self._summary_cache = None

    # -- reads ----------------------------------------------------------------

    async def size(self) -> int:
        """Return the number of messages."""
        return len(self._msgs)

    async def get_memory(
        self,
        mark: str | None = None,
        exclude_mark: str | None = None,
        prepend_summary: bool = True,
        *,
        limit: int | None = None,
    ) -> list[Msg]:
        """Return messages in insertion order; see :meth:`MemoryBase.get_memory`."""
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
                result = result[-limit:] if limit else []
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

        if prepend_summary and self._compressed_summary:
            if self._summary_cache is None:
                self._summary_cache = self._summary_msg(self._compressed_summary)
            result.insert(0, self._summary_cache)
        return result

    # -- state ----------------------------------------------------------------

    def _content(self) -> list[list[Any]]:
        marks_of = self._marks_of
        return [
            [msg.to_dict(), list(marks_of.get(msg_id, ()))] for msg_id, msg in self._msgs.items()
        ]

    def state_dict(self) -> dict[str, Any]:
        """Return ``{"content": [[msg_dict, [marks]], ...]}`` (+ the summary when set)."""
        state: dict[str, Any] = {"content": self._content()}
        if self._compressed_summary:
            state["_compressed_summary"] = self._compressed_summary
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Replace the memory with ``state``; on error nothing changes.

        Raises:
            ValueError: The state is malformed.
            KeyError: ``content`` is missing and ``strict`` is true.
            TypeError: ``state`` is not a dict.
        """
        content, summary = _checks.parse_state(state, strict)
        if content is not None:
            self._replace(content)
        self._compressed_summary = summary
        self._summary_cache = None

    def _replace(self, content: list[tuple[Msg, list[str]]]) -> None:
        self._msgs = {}
        self._seq = {}
        self._counter = count()
        self._marks_of = {}
        self._by_mark = {}
        self._unordered = set()
        for msg, marks in content:
            # Copied so that later changes to the caller's state do not leak in.
            self._insert(msg.copy(), marks)

    async def export_state(self) -> dict[str, Any]:
        """Return the session in the ``state_dict()`` format."""
        return self.state_dict()

    async def import_state(self, state: dict[str, Any]) -> None:
        """Replace the session with ``state``; see :meth:`MemoryBase.import_state`."""
        self.load_state_dict(state, strict=True)
