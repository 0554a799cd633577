"""In-process memory factories, and deliberately broken memories the suite must catch."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

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


BROKEN = [IgnoresLimit, OverCountsUpdates, MarksDuplicates, DeletesByFirstMarkOnly]
