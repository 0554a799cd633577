"""The conformance suite and the state machine on InMemoryMemory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from memmark.core import InMemoryMemory, MemoryBase
from memmark.core.testing import MemoryConformance, MemoryFactory


@contextlib.asynccontextmanager
async def in_memory_factory() -> AsyncIterator[MemoryFactory]:
    # The in-process memory has no ids: one instance stands for one session,
    # so every handle on a pair is that instance.
    sessions: dict[tuple[str, str], InMemoryMemory] = {}

    async def make(user_id: str, session_id: str) -> MemoryBase:
        return sessions.setdefault((user_id, session_id), InMemoryMemory())

    yield make


class TestInMemoryConformance(MemoryConformance):
    def memory_factory(self) -> contextlib.AbstractAsyncContextManager[MemoryFactory]:
        return in_memory_factory()
