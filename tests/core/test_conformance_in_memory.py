"""The conformance suite and the state machine on InMemoryMemory."""

from __future__ import annotations

import contextlib

from broken_backends import in_process_factory

from memmark.core.testing import MemoryConformance, MemoryFactory


class TestInMemoryConformance(MemoryConformance):
    def memory_factory(self) -> contextlib.AbstractAsyncContextManager[MemoryFactory]:
        return in_process_factory()()
