"""Fixtures of the reliability runs: one parametrised backend, a store on it, the figures."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.backends import Backend, usable
from tests.reliability.harness import figures
from tests.reliability.harness.store import RELIABILITY_BACKENDS, Store, open_store


@pytest.fixture(params=[b.param() for b in RELIABILITY_BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend of the runs, resolved and known to answer."""
    return usable(request, request.param)


@pytest_asyncio.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    """A store on the backend, cleaned after the test."""
    async with open_store(backend) as s:
        yield s


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("MEMMARK_RELIABILITY_OUT")
    if out and figures.ROWS:
        figures.write(Path(out))
