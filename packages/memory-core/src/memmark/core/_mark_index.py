"""The in-process memory's storage: its messages in order and an index of their marks.

Upkeep only, no contract: :class:`~memmark.core.InMemoryMemory` decides what
to store and answers the hooks with these structures.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import count, dropwhile, islice

from memmark.core.msg import Msg
from memmark.core.pages import PageQuery


class MarkIndex:
    """Messages in insertion order, and for every mark the ids carrying it."""

    def __init__(self) -> None:
        # id -> message, in insertion order (dicts keep it, and pop is O(1)).
        self._msgs: dict[str, Msg] = {}
        # id -> position, to put a mark's index back in message order.
        self._seq: dict[str, int] = {}
        self._counter = count()
        # mark -> ids carrying it (a dict as an ordered set). The only record
        # of marks: set operations on it run in C, with no per-message upkeep.
        self._by_mark: dict[str, dict[str, None]] = {}
        # Marks whose index may be out of message order after a re-mark.
        self._unordered: set[str] = set()

    def _ids_with(self, mark: str) -> dict[str, None]:
        ids = self._by_mark.get(mark)
        if ids is None:
            return {}
        if mark in self._unordered:
            # Restore message order once, at the next read; Timsort is linear
            # on the runs of sorted ids that merges leave behind.
            ids = dict.fromkeys(sorted(ids, key=self._seq.__getitem__))
            self._by_mark[mark] = ids
            self._unordered.discard(mark)
        return ids

    def _mark_ids(self, mark: str, ids: Iterable[str], *, in_order: bool = False) -> None:
        """Add ``ids`` (already in the session) to ``mark``'s index.

        ``in_order`` says the ids come in message order, so a new index needs
        no sorting later.
        """
        index = self._by_mark.get(mark)
        if index is None:
            self._by_mark[mark] = dict.fromkeys(ids)
            if not in_order:
                self._unordered.add(mark)
            return
        before = len(index)
        index.update(dict.fromkeys(ids))
        if len(index) != before:
            self._unordered.add(mark)

    def _unmark_ids(self, ids: Iterable[str], marks: Iterable[str] | None = None) -> None:
        """Drop ``ids`` from the indexes of ``marks`` (all marks when ``None``)."""
        by_mark = self._by_mark
        for mark in list(by_mark) if marks is None else marks:
            index = by_mark.get(mark)
            if index is None:
                continue
            for msg_id in ids:
                index.pop(msg_id, None)
            if not index:
                del by_mark[mark]
                self._unordered.discard(mark)

    def _drop_msgs(self, ids: Iterable[str]) -> list[str]:
        """Remove messages (not their marks); return the ids really removed."""
        msgs, seq = self._msgs, self._seq
        gone = [i for i in ids if msgs.pop(i, None) is not None]
        for msg_id in gone:
            del seq[msg_id]
        return gone

    def _selection(
        self, mark: str | None, exclude_mark: str | None, backwards: bool
    ) -> Iterator[str]:
        """Yield the ids of the selection, newest first when ``backwards``."""
        source = self._ids_with(mark) if mark is not None else self._msgs
        ids: Iterator[str] = reversed(source) if backwards else iter(source)
        if exclude_mark is not None:
            excluded = self._by_mark.get(exclude_mark, {})
            ids = (i for i in ids if i not in excluded)
        return ids

    def _page(self, query: PageQuery) -> tuple[list[Msg], bool]:
        """Return the messages of a page (see ``get_page``) and whether more are left."""
        backwards, cursor, limit = query.backwards, query.cursor, query.limit
        ids = self._selection(query.mark, query.exclude_mark, backwards)
        if cursor is not None:
            seq = self._seq
            at = seq.get(cursor)
            if at is None:
                raise query.cursor_not_found()
            if backwards:
                ids = dropwhile(lambda i: seq[i] >= at, ids)
            else:
                ids = dropwhile(lambda i: seq[i] <= at, ids)
        taken = list(islice(ids, limit + 1))
        has_more = len(taken) > limit
        del taken[limit:]
        if backwards:
            taken.reverse()
        msgs = self._msgs
        return [msgs[i] for i in taken], has_more
