"""Deliberately broken in-process memories, which the conformance suite must catch."""

from __future__ import annotations

from typing import Any

from memmark.core import InMemoryMemory, Msg
from memmark.core import batch as ops
from memmark.core.batch import BatchResult
from memmark.core.errors import DuplicateMessageError
from memmark.core.pages import MessagePage, PageQuery


class IgnoresLimit(InMemoryMemory):
    """Returns the whole result whatever ``limit`` says."""

    async def _get_memory(
        self, mark: str | None, exclude_mark: str | None, limit: int | None, with_summary: bool
    ) -> tuple[list[Msg], str | None]:
        return await super()._get_memory(mark, exclude_mark, None, with_summary)


class OverCountsUpdates(InMemoryMemory):
    """Counts every selected message as changed, even when its marks stay."""

    async def _update_messages_mark(
        self, new_mark: str | None, old_mark: str | None, msg_ids: list[str] | None
    ) -> int:
        changed = await super()._update_messages_mark(new_mark, old_mark, msg_ids)
        return changed + 1 if new_mark is not None else changed


class MarksDuplicates(InMemoryMemory):
    """Gives the marks of a skipped duplicate to the message already stored."""

    async def _add(self, msgs: list[Msg], marks: list[str], skip_duplicated: bool) -> None:
        for m in msgs:
            if m.id in self._msgs:
                for mark in marks:
                    self._mark_ids(mark, [m.id])
        await super()._add(msgs, marks, skip_duplicated)


class DeletesByFirstMarkOnly(InMemoryMemory):
    """Ignores every mark after the first in ``delete_by_mark``."""

    async def _delete_by_mark(self, marks: list[str]) -> int:
        return await super()._delete_by_mark(marks[:1])


class ClearKeepsTheVersion(InMemoryMemory):
    """Leaves the session's version where it was when clearing."""

    async def _clear(self) -> None:
        version, updated_at = self._version_now, self._updated_at
        await super()._clear()
        self._version_now, self._updated_at = version, updated_at


class UpsertMovesToTheEnd(InMemoryMemory):
    """Writes a replaced message as a new one, at the end of the order."""

    def _upsert(self, msgs: list[Msg], marks: list[str]) -> int:
        stored = [m.id for m in msgs if m.id in self._msgs]
        kept = {i: [mark for mark, ids in self._by_mark.items() if i in ids] for i in stored}
        self._drop_msgs(stored)
        if self._by_mark:
            self._unmark_ids(stored)
        super()._upsert(msgs, marks)
        for msg_id, old_marks in kept.items():
            for mark in old_marks:
                self._mark_ids(mark, [msg_id])
        return len(stored)


class BatchStopsHalfway(InMemoryMemory):
    """Applies a batch's writes one by one, so those before a refused add stay written."""

    async def _apply(
        self, batch_ops: list[ops.Operation], expect_version: int | None, batch_id: str | None
    ) -> BatchResult:
        if batch_id is not None and batch_id in self._batch_ids:
            return await super()._apply(batch_ops, expect_version, batch_id)
        results: list[Any] = []
        for op in batch_ops:
            if isinstance(op, ops.AddOp) and not op.skip_duplicated:
                taken = [m.id for m in op.msgs if m.id in self._msgs]
                if taken:
                    raise DuplicateMessageError(taken)
            results += (await super()._apply([op], expect_version, None)).results
            expect_version = None
        if batch_id is not None:
            self._batch_ids.add(batch_id)
        return BatchResult(results, self._version_now)


class HasMoreOffByOne(InMemoryMemory):
    """Says a page has more when it exactly fills what was left."""

    async def _get_page(self, query: PageQuery) -> MessagePage:
        page = await super()._get_page(query)
        return MessagePage(page.messages, len(page.messages) >= query.limit, page.version)


class PopsTheOldest(InMemoryMemory):
    """Pops the oldest message instead of the newest."""

    def _pop(self) -> Msg | None:
        self._written()
        if not self._msgs:
            return None
        oldest = next(iter(self._msgs))
        msg = self._msgs[oldest]
        self._drop_msgs([oldest])
        if self._by_mark:
            self._unmark_ids([oldest])
        return msg


class IgnoresExpectVersion(InMemoryMemory):
    """Applies every write whatever version it expects."""

    async def _apply(
        self, batch_ops: list[ops.Operation], expect_version: int | None, batch_id: str | None
    ) -> BatchResult:
        return await super()._apply(batch_ops, None, batch_id)


BROKEN = [
    IgnoresLimit,
    OverCountsUpdates,
    MarksDuplicates,
    DeletesByFirstMarkOnly,
    ClearKeepsTheVersion,
    UpsertMovesToTheEnd,
    BatchStopsHalfway,
    HasMoreOffByOne,
    PopsTheOldest,
    IgnoresExpectVersion,
]
