"""Fixtures of the Redis tests: the shared server's URL, and a server of the test's own."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests.backends import backends, drop_keys, key_prefix, redis_client, server_url, usable
from tests.servers import RedisServer, redis_server


@contextlib.asynccontextmanager
async def prefixed_client(url: str, decode: bool) -> AsyncIterator[Any]:
    """A client on ``url`` with a key prefix of its own (``client.test_prefix``), dropped after."""
    client = redis_client(url, decode_responses=decode)
    client.test_prefix = key_prefix()
    try:
        yield client
    finally:
        await drop_keys(client, client.test_prefix)
        await client.aclose()


def client_fixture(*backend_ids: str) -> Callable[..., Any]:
    """A ``client`` fixture over the Redis rows ``backend_ids``, decoding replies or not."""
    params = [
        backend.param((backend, decoded), id=f"{backend.id}-decoded" if decoded else backend.id)
        for backend in backends(*backend_ids)
        for decoded in (False, True)
    ]

    @pytest.fixture(params=params)
    async def client(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
        backend, decode = request.param
        async with prefixed_client(usable(request, backend).url, decode) as made:
            yield made

    return client


@pytest.fixture
def redis_url() -> str:
    """The shared server's URL (db 15), or a skip/fail when it does not answer."""
    return server_url("redis")


@pytest.fixture(scope="module")
def own_server() -> Iterator[RedisServer]:
    """A redis-server of the test's own: nothing else talks to it."""
    with redis_server() as server:
        yield server
