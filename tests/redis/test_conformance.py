"""The shared conformance suite on real Redis, fakeredis and Redis Cluster."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import fakeredis
import pytest
import redis.asyncio as aioredis
from redis_support import Cluster, drop_prefix, unique_prefix
from servers import REDIS_URL

from memmark.core import MemoryBase
from memmark.core.testing import MemoryConformance, MemoryFactory
from memmark.redis import RedisMemory


@contextlib.asynccontextmanager
async def _factory(
    client: aioredis.Redis | aioredis.RedisCluster, *, via_pool: bool = False
) -> AsyncIterator[MemoryFactory]:
    prefix = unique_prefix()
    made: list[RedisMemory] = []

    async def make(user_id: str, session_id: str) -> MemoryBase:
        if via_pool:  # the tutorial's way: a pool, and a client the memory owns
            memory = RedisMemory(
                session_id=session_id,
                user_id=user_id,
                connection_pool=client.connection_pool,  # type: ignore[union-attr]
                key_prefix=prefix,
            )
        else:
            memory = RedisMemory(
                session_id=session_id, user_id=user_id, client=client, key_prefix=prefix
            )
        made.append(memory)
        return memory

    try:
        yield make
    finally:
        for memory in made:
            await memory.close()
        await drop_prefix(client, prefix)
        await client.aclose()


@pytest.mark.redis
class TestRealRedis(MemoryConformance):
    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    def memory_factory(self) -> contextlib.AbstractAsyncContextManager[MemoryFactory]:
        return _factory(aioredis.Redis.from_url(REDIS_URL))


@pytest.mark.redis
class TestRealRedisDecodedPool(MemoryConformance):
    """A pool made with ``decode_responses=True``, as in the tutorial's FastAPI code."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    def memory_factory(self) -> contextlib.AbstractAsyncContextManager[MemoryFactory]:
        return _factory(aioredis.Redis.from_url(REDIS_URL, decode_responses=True), via_pool=True)


class TestFakeRedisDecoded(MemoryConformance):
    def memory_factory(self) -> contextlib.AbstractAsyncContextManager[MemoryFactory]:
        fake = fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
        return _factory(fake, via_pool=True)


class TestFakeRedisBytes(MemoryConformance):
    def memory_factory(self) -> contextlib.AbstractAsyncContextManager[MemoryFactory]:
        fake = fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=False)
        return _factory(fake)


@pytest.mark.redis
@pytest.mark.cluster
class TestRedisCluster(MemoryConformance):
    @pytest.fixture(autouse=True)
    def _cluster(self, redis_cluster: Cluster) -> None:
        self.cluster = redis_cluster

    def memory_factory(self) -> contextlib.AbstractAsyncContextManager[MemoryFactory]:
        return _factory(self.cluster.client())
