"""Deliberately broken in-process memories, which the conformance suite must catch."""

from __future__ import annotations

from memmark.core import InMemoryMemory, Msg


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


BROKEN = [
    IgnoresLimit,
    OverCountsUpdates,
    MarksDuplicates,
    DeletesByFirstMarkOnly,
    ClearKeepsTheVersion,
]
