"""In-process memory factories, and deliberately broken memories the suite must catch."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from memmark.core import InMemoryMemory, MemoryBase, Msg
from memmark.core.testing import MemoryFactory


def in_process_factory(
    cls: type[InMemoryMemory] = InMemoryMemory,
) -> Callable[[], contextlib.AbstractAsyncContextManager[MemoryFactory]]:
    """Return a factory context making ``cls`` memories, one instance per pair.

    The in-process memory has no ids: one instance stands for one session, so
    every handle on a pair is that instance.
    """

    @contextlib.asynccontextmanager
    async def context() -> AsyncIterator[MemoryFactory]:
        sessions: dict[tuple[str, str], InMemoryMemory] = {}

        async def make(user_id: str, session_id: str) -> MemoryBase:
            return sessions.setdefault((user_id, session_id), cls())

        yield make

    return context


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
