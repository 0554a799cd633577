"""connect(url) on the real servers: every backend opens from its URL, shares its pool,
and a server that accepts connections but never answers fails in seconds, naming the URL."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis.exceptions import RedisError

from memmark.core import Msg
from memmark.core.urls import close_shared, connect, mask_password
from memmark.sql import make_metadata
from memmark.sql._open import shared_engine
from tests.backends import BY_ID, server_url

SQL_SERVERS = [BY_ID[b].param(b) for b in ("postgres", "mariadb")]


@pytest.fixture(autouse=True)
async def _shared_pools_closed() -> AsyncIterator[None]:
    yield
    await close_shared()


async def _round_trip(url: str, **options: object) -> None:
    user = f"u-{uuid.uuid4().hex}"
    first = connect(url, user_id=user, session_id="s", **options)
    await first.add(Msg("tester", "héllo 🙂", "user", metadata={"n": 2**63 - 1}), marks="m")
    second = connect(url, user_id=user, session_id="s", **options)
    (got,) = await second.get_memory(mark="m")
    assert (got.content, got.metadata) == ("héllo 🙂", {"n": 2**63 - 1})
    assert await connect(url, user_id=f"{user}-other", session_id="s", **options).size() == 0
    await second.clear()
    await first.close()
    await second.close()


@pytest.mark.parametrize("backend", SQL_SERVERS)
async def test_sql_servers_open_from_their_url_on_one_shared_engine(backend: str) -> None:
    url = server_url(backend)
    prefix = f"t{uuid.uuid4().hex[:12]}_"
    try:
        await _round_trip(url, table_prefix=prefix)
        a = connect(url, user_id="a", table_prefix=prefix)
        b = connect(url, user_id="b", table_prefix=prefix)
        assert a._link.engine is b._link.engine  # type: ignore[attr-defined]
    finally:
        async with shared_engine(url).begin() as conn:
            await conn.run_sync(make_metadata(prefix).drop_all)


async def test_sqlite_opens_from_its_url(tmp_path: Path) -> None:
    await _round_trip(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await _round_trip(f"sqlite:///{tmp_path / 'plain.sqlite'}")


@pytest.mark.redis
async def test_redis_opens_from_its_url() -> None:
    url = server_url("redis")
    prefix = f"mmtest:{uuid.uuid4().hex}:"
    await _round_trip(url, key_prefix=prefix)
    a = connect(url, user_id="a", key_prefix=prefix)
    b = connect(url, user_id="b", key_prefix=prefix)
    assert a.get_client() is b.get_client()  # type: ignore[attr-defined]


@pytest.mark.redis_cluster
async def test_a_redis_cluster_opens_from_its_url(redis_cluster: Any) -> None:
    url = redis_cluster.url
    prefix = f"mmtest:{uuid.uuid4().hex}:"
    await _round_trip(url, key_prefix=prefix)
    assert type(connect(url, key_prefix=prefix).get_client()).__name__ == "RedisCluster"  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", SQL_SERVERS)
async def test_sql_from_url_returns_its_class_on_the_engine_connect_uses(backend: str) -> None:
    from memmark.sql import AsyncSQLAlchemyMemory

    class Custom(AsyncSQLAlchemyMemory):
        pass

    url = server_url(backend)
    prefix = f"t{uuid.uuid4().hex[:12]}_"
    try:
        memory = Custom.from_url(url, user_id="u", session_id="s", table_prefix=prefix)
        assert type(memory) is Custom
        assert (memory.user_id, memory.session_id, memory.table_prefix) == ("u", "s", prefix)
        plain = AsyncSQLAlchemyMemory.from_url(
            url, user_id="u", session_id="s", table_prefix=prefix
        )
        await plain.add(Msg("a", "hello", "user"))
        assert [m.content for m in await memory.get_memory()] == ["hello"]
        opened = connect(url, user_id="v", table_prefix=prefix)
        assert memory._link.engine is plain._link.engine is opened._link.engine  # type: ignore[attr-defined]
        await memory.close()
        assert await plain.size() == 1  # the shared engine outlives a closed memory
    finally:
        async with shared_engine(url).begin() as conn:
            await conn.run_sync(make_metadata(prefix).drop_all)


@pytest.mark.redis
async def test_redis_from_url_returns_its_class_on_the_client_connect_uses() -> None:
    from memmark.redis import RedisMemory

    class Custom(RedisMemory):
        pass

    url = server_url("redis")
    prefix = f"mmtest:{uuid.uuid4().hex}:"
    memory = Custom.from_url(url, user_id="u", session_id="s", key_prefix=prefix, key_ttl=60)
    assert type(memory) is Custom
    assert (memory.user_id, memory.key_prefix, memory.key_ttl) == ("u", prefix, 60)
    assert memory.get_client() is connect(url, key_prefix=prefix).get_client()  # type: ignore[attr-defined]
    await memory.add(Msg("a", "hello", "user"))
    again = RedisMemory.from_url(url, user_id="u", session_id="s", key_prefix=prefix)
    assert [m.content for m in await again.get_memory()] == ["hello"]
    await again.clear()
    await memory.close()
    await again.close()


@pytest.mark.parametrize(
    ("cls_path", "url", "scheme"),
    [
        ("memmark.sql:AsyncSQLAlchemyMemory", "redis://:s3cret@127.0.0.1:6379/0", "redis"),
        ("memmark.sql:AsyncSQLAlchemyMemory", "memory://x", "memory"),
        ("memmark.redis:RedisMemory", "postgresql+asyncpg://u:s3cret@h/db", "postgresql+asyncpg"),
        ("memmark.redis:RedisMemory", "sqlite:///x.db", "sqlite"),
    ],
)
def test_from_url_refuses_a_scheme_of_another_backend_naming_it(
    cls_path: str, url: str, scheme: str
) -> None:
    import importlib

    module, _, name = cls_path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    with pytest.raises(ValueError, match=re.escape(f"'{scheme}'://")) as caught:
        cls.from_url(url, user_id="u", session_id="s")
    assert "s3cret" not in str(caught.value)


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP server on loopback that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "template",
    [
        "postgresql+asyncpg://user:s3cret@127.0.0.1:{port}/db",
        "mysql+asyncmy://user:s3cret@127.0.0.1:{port}/db",
        "redis://:s3cret@127.0.0.1:{port}/0",
    ],
    ids=["postgres", "mariadb", "redis"],
)
async def test_a_silent_server_fails_within_seconds_naming_the_url(template: str) -> None:
    async with silent_server() as port:
        url = template.format(port=port)
        memory = connect(url, user_id="u", session_id="s")
        started = time.monotonic()
        with pytest.raises(Exception) as caught:  # each driver has its own
            # The bound here only stops a hang from stalling the suite; the
            # default timeouts are what must fire first.
            await asyncio.wait_for(memory.size(), 30)
        elapsed = time.monotonic() - started
    assert elapsed < 10, f"{url}: failed only after {elapsed:.1f} s"
    text = "".join(
        [str(caught.value), *getattr(caught.value, "__notes__", []), str(caught.value.__cause__)]
    )
    assert "s3cret" not in text
    assert mask_password(url) in text
    assert isinstance(caught.value, (TimeoutError, ConnectionError, RedisError))


async def test_a_redis_memory_made_by_host_or_url_fails_in_time_naming_the_server() -> None:
    from memmark.redis import RedisMemory

    async def fails_in_time(memory: RedisMemory) -> RedisError:
        started = time.monotonic()
        with pytest.raises(RedisError) as caught:
            await asyncio.wait_for(memory.size(), 30)
        assert time.monotonic() - started < 10
        await memory.close()
        return caught.value

    async with silent_server() as port:
        # Made both ways, side by side (the test waits for one timeout, not two).
        errors = await asyncio.gather(
            fails_in_time(RedisMemory(host="127.0.0.1", port=port, password="s3cret")),
            fails_in_time(RedisMemory(url=f"redis://:s3cret@127.0.0.1:{port}/0")),
        )
    for error in errors:
        assert f"redis://:***@127.0.0.1:{port}/0" in str(error)
        assert "s3cret" not in str(error)
    # A closed port fails at once, whichever way the memory was made.
    for closed in (
        RedisMemory(host="127.0.0.1", port=port),
        RedisMemory(url=f"redis://127.0.0.1:{port}"),
    ):
        started = time.monotonic()
        with pytest.raises(RedisError, match=f"127.0.0.1:{port}"):
            await closed.size()
        assert time.monotonic() - started < 2
        await closed.close()


class SilencingProxy:
    """A loopback TCP proxy to a real server that can go silent at any moment.

    Until :meth:`silence`, bytes flow both ways; after it, the proxy keeps
    every connection open and reads what comes, but forwards nothing in either
    direction, and new connections are accepted and never answered: a server
    that hangs mid-command.
    """

    def __init__(self, port: int) -> None:
        self.target = port
        self.silent = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await src.read(65536):
                if not self.silent:
                    dst.write(data)
                    await dst.drain()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if self.silent:
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self._writers.append(up_writer)
        for pipe in (self._pipe(reader, up_writer), self._pipe(up_reader, writer)):
            task = asyncio.ensure_future(pipe)
            self._tasks.add(task)

    def silence(self) -> None:
        """Stop answering, on the open connections and on new ones."""
        self.silent = True

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[int]:
        """Serve on a free loopback port, yielded; close everything after."""
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            for task in self._tasks:
                task.cancel()
            for writer in self._writers:
                writer.close()
            server.close()
            await server.wait_closed()


def _error_text(error: BaseException) -> str:
    return " ".join([str(error), *getattr(error, "__notes__", []), str(error.__cause__ or "")])


async def _fails_in_time(call: Awaitable[object]) -> BaseException:
    started = time.monotonic()
    with pytest.raises(Exception) as caught:  # each driver has its own
        # The bound here only stops a hang from stalling the suite; the
        # default timeouts are what must fire first.
        await asyncio.wait_for(call, 60)
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"failed only after {elapsed:.1f} s: {caught.value!r}"
    assert not isinstance(caught.value, asyncio.TimeoutError) or _error_text(caught.value).strip()
    return caught.value


@pytest.mark.parametrize(
    ("backend", "template"),
    [
        # PostgreSQL trusts loopback here, so the password is only there to be masked.
        BY_ID[b].param(b, template, id=b)
        for b, template in [
            ("postgres", "postgresql+asyncpg://postgres:s3cret@127.0.0.1:{port}/test"),
            ("mariadb", "mysql+asyncmy://root@127.0.0.1:{port}/test"),
            ("redis", "redis://127.0.0.1:{port}/15"),
        ]
    ],
)
async def test_a_server_silent_mid_command_fails_within_seconds_naming_the_url(
    backend: str, template: str
) -> None:
    real = urlsplit(server_url(backend))
    options: dict[str, Any] = {"table_prefix": f"t{uuid.uuid4().hex[:12]}_"}
    if backend == "redis":
        options = {"key_prefix": f"mmtest:{uuid.uuid4().hex}:"}
    proxy = SilencingProxy(real.port or 0)
    async with proxy.running() as port:
        url = template.format(port=port)
        memory = connect(url, user_id="u", session_id="s", **options)
        await memory.add(Msg("a", "before", "user"))  # tables made, connection pooled
        assert await memory.size() == 1
        proxy.silence()
        read = await _fails_in_time(memory.get_memory())
        write = await _fails_in_time(memory.add(Msg("a", "during", "user")))
    for error in (read, write):
        text = _error_text(error)
        assert mask_password(url) in text, text
        assert "s3cret" not in text
    await close_shared()
    # Clean up through the server itself.
    memory = connect(real.geturl(), user_id="u", session_id="s", **options)
    assert [m.content for m in await memory.get_memory()] == ["before"]
    if backend == "redis":
        await memory.delete_session()
    else:
        async with shared_engine(real.geturl()).begin() as conn:
            await conn.run_sync(make_metadata(options["table_prefix"]).drop_all)


@pytest.mark.redis
async def test_a_redis_memory_made_by_host_or_url_fails_in_time_mid_command() -> None:
    from memmark.redis import RedisMemory

    real = urlsplit(server_url("redis"))
    prefix = f"mmtest:{uuid.uuid4().hex}:"
    proxy = SilencingProxy(real.port or 0)
    async with proxy.running() as port:
        memories = [
            RedisMemory(host="127.0.0.1", port=port, db=15, key_prefix=prefix),
            RedisMemory(url=f"redis://127.0.0.1:{port}/15", key_prefix=prefix),
        ]
        for memory in memories:
            await memory.add(Msg("a", "before", "user"))
        proxy.silence()
        # Both ways side by side: the test waits for one timeout, not two.
        errors = await asyncio.gather(*(_fails_in_time(memory.size()) for memory in memories))
        for memory in memories:
            await memory.close()
    for error in errors:
        assert f"127.0.0.1:{port}" in _error_text(error)
    async with RedisMemory(url=real.geturl(), key_prefix=prefix) as cleaner:
        await cleaner.delete_session()
