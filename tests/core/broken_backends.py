"""Deliberately broken in-process memories, which the conformance suite must catch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from memmark.core import InMemoryMemory, Msg


class IgnoresLimit(InMemoryMemory):
    """Returns the whole result whatever ``limit`` says."""

    async def get_memory(
        self,
        mark: str | None = None,
        exclude_mark: str | None = None,
        prepend_summary: bool = True,
        *,
        limit: int | None = None,
    ) -> list[Msg]:
        return await super().get_memory(mark, exclude_mark, prepend_summary)


class OverCountsUpdates(InMemoryMemory):
    """Counts every selected message as changed, even when its marks stay."""

    async def update_messages_mark(
        self,
        new_mark: str | None,
        old_mark: str | None = None,
        msg_ids: str | Iterable[str] | None = None,
    ) -> int:
        changed = await super().update_messages_mark(new_mark, old_mark, msg_ids)
        return changed + 1 if new_mark is not None else changed


class MarksDuplicates(InMemoryMemory):
    """Gives the marks of a skipped duplicate to the message already stored."""

    async def add(
        self,
        memories: Msg | list[Msg] | None,
        marks: str | list[str] | None = None,
        *,
        skip_duplicated: bool = True,
    ) -> None:
        for m in memories or []:  # type: ignore[union-attr]
            if m.id in self._msgs:
                for mark in marks or []:
                    self._mark_ids(mark, [m.id])
        await super().add(memories, marks, skip_duplicated=skip_duplicated)


class DeletesByFirstMarkOnly(InMemoryMemory):
    """Ignores every mark after the first in ``delete_by_mark``."""

    async def delete_by_mark(self, mark: str | list[str]) -> int:
        first: Any = list(mark)[:1]
        return await super().delete_by_mark(first)


BROKEN = [IgnoresLimit, OverCountsUpdates, MarksDuplicates, DeletesByFirstMarkOnly]
