"""Fixtures of the reliability runs: one parametrised backend, servers, figures."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reliability import figures
from reliability.backends import Backend, Store, open_store
from reliability.support import backend_params, usable


@pytest.fixture(scope="session")
def reliability_cluster() -> Iterator[str]:
    """A throwaway three-master cluster for the whole run: its ``redis-cluster://`` URL."""
    from reliability.backends import redis_helpers

    with redis_helpers().start_cluster() as cluster:
        yield f"redis-cluster://127.0.0.1:{cluster.ports[0]}"


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend of the table, resolved and known to answer."""
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
