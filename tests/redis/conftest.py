"""Fixtures of the Redis tests: the shared server's URL, and a server of the test's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.backends import server_url
from tests.servers import RedisServer, redis_server


@pytest.fixture
def redis_url() -> str:
    """The shared server's URL (db 15), or a skip/fail when it does not answer."""
    return server_url("redis")


@pytest.fixture(scope="module")
def own_server() -> Iterator[RedisServer]:
    """A redis-server of the test's own: nothing else talks to it."""
    with redis_server() as server:
        yield server
