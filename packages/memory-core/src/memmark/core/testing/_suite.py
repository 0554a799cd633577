"""The conformance suite: the contract as pytest tests, run on every backend.

The tests live in one spec class per capability (``_spec_*.py``);
:class:`MemoryConformance` puts them together with the fixtures and the
state machine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import ClassVar

import pytest_asyncio
from hypothesis import HealthCheck, settings

from memmark.core.base import MemoryBase
from memmark.core.testing._corpus import HOSTILE_IDS, HOSTILE_IDS_WITHOUT_NUL
from memmark.core.testing._machine import run_state_machine
from memmark.core.testing._spec import MemoryFactory
from memmark.core.testing._spec_add_read import AddAndReadSpec
from memmark.core.testing._spec_batches import BatchesSpec
from memmark.core.testing._spec_expect_version import ExpectVersionSpec
from memmark.core.testing._spec_input_lifetime import InputAndLifetimeSpec
from memmark.core.testing._spec_pages import PagesSpec
from memmark.core.testing._spec_remove_remark import RemoveAndRemarkSpec
from memmark.core.testing._spec_sessions_state import SessionsAndStateSpec
from memmark.core.testing._spec_state_slot import StateSlotSpec
from memmark.core.testing._spec_upsert_pop import UpsertAndPopSpec
from memmark.core.testing._spec_versions import VersionsSpec

__all__ = ["MemoryConformance", "MemoryFactory"]


class MemoryConformance(
    AddAndReadSpec,
    RemoveAndRemarkSpec,
    SessionsAndStateSpec,
    VersionsSpec,
    InputAndLifetimeSpec,
    UpsertAndPopSpec,
    PagesSpec,
    StateSlotSpec,
    ExpectVersionSpec,
    BatchesSpec,
):
    """Subclass this in a backend's tests and implement :meth:`memory_factory`.

    Every handle the factory makes is new; handles made for the same
    ``(user_id, session_id)`` see the same data. The factory's context must
    remove what its memories stored when it exits.

    Attributes:
        hostile_ids: The ids the store must keep apart. A store that cannot
            hold some (NUL in PostgreSQL) uses ``hostile_ids_without_nul``.
        state_machine_settings: Hypothesis settings for the state machine.
    """

    hostile_ids: ClassVar[tuple[str, ...]] = HOSTILE_IDS
    hostile_ids_without_nul: ClassVar[tuple[str, ...]] = HOSTILE_IDS_WITHOUT_NUL
    state_machine_settings: ClassVar[settings] = settings(
        max_examples=40,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )

    def memory_factory(self) -> AbstractAsyncContextManager[MemoryFactory]:
        """Return an async context manager that yields a :data:`MemoryFactory`."""
        raise NotImplementedError

    @pytest_asyncio.fixture
    async def make(self) -> AsyncIterator[MemoryFactory]:
        """The factory, entered for the test and cleaned up after it."""
        async with self.memory_factory() as factory:
            yield factory

    @pytest_asyncio.fixture
    async def memory(self, make: MemoryFactory) -> MemoryBase:
        """A memory for ``("user-1", "session-1")``."""
        return await make("user-1", "session-1")

    # -- the model check ------------------------------------------------------

    def test_state_machine(self) -> None:
        """The backend behaves as a plain model under random sequences of calls."""
        run_state_machine(self.memory_factory, self.state_machine_settings)
