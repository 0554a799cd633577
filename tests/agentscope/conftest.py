"""Fixtures of the memmark.agentscope tests: a store on each row of the backend table."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.agentscope.stores import Store, open_store, shared_store_params, store_params
from tests.backends import usable


@pytest.fixture(params=store_params())
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A store on each backend."""
    async with open_store(usable(request, request.param)) as opened:
        yield opened


@pytest.fixture(params=shared_store_params())
async def shared_store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A store on each backend whose sessions outlive a memory object."""
    async with open_store(usable(request, request.param)) as opened:
        yield opened
