"""The one table of backends: every test, reliability run and benchmark draws from it.

A :class:`Backend` row is plain, picklable data: its id (the name used in
test ids, markers, figures and benchmark rows), its URL and the environment
variable that overrides it, and whether a server must answer first. From the
table come the pytest markers (:func:`register_markers`), ``pytest.param``
rows that carry them (:func:`params`), the check that a backend can run
here (:func:`usable`), and the memory factories of the conformance suite
(:func:`memory_factory`, :class:`BackendConformance`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from memmark.core import InMemoryMemory, MemoryBase
from memmark.core.testing import MemoryConformance, MemoryFactory
from memmark.core.urls import InProcessStores
from tests.servers import require_binaries, require_server, unavailable


@dataclass(frozen=True)
class Backend:
    """A row of the backend table.

    Attributes:
        id: The one name of the backend: in test ids, markers (``-`` becomes
            ``_``), reliability figures and benchmark rows.
        title: Its name in published tables and messages.
        kind: ``"in-memory"``, ``"sql"`` or ``"redis"``.
        url: SQLAlchemy or redis URL; ``redis+cluster://host:port`` for the
            cluster. Empty until resolved where the test makes it (a SQLite
            file, the throwaway cluster).
        url_variable: The environment variable that overrides :attr:`url`.
        server: ``"shared"`` (a server at :attr:`url` must answer),
            ``"throwaway"`` (the tests start it), or ``""`` (none).
        module: The package that must import for the backend to exist.
        shared: Whether several processes can open the same session.
        holds_nul: Whether ids may hold NUL (PostgreSQL text cannot).
    """

    id: str
    title: str
    kind: str
    url: str = ""
    url_variable: str = ""
    server: str = ""
    module: str = "memmark.core"
    shared: bool = True
    holds_nul: bool = True

    @property
    def marker(self) -> str:
        """The pytest marker of the backend's tests; ``""`` when it needs no server."""
        return self.id.replace("-", "_") if self.server else ""

    @property
    def marks(self) -> list[pytest.MarkDecorator]:
        """The marks a test on this backend carries."""
        return [getattr(pytest.mark, self.marker)] if self.marker else []

    def param(self, *values: object, id: str | None = None) -> Any:
        """Return ``pytest.param(*values)`` (the row itself by default) with the backend's marks."""
        return pytest.param(*(values or (self,)), id=id or self.id, marks=self.marks)


def _url(variable: str, default: str) -> dict[str, str]:
    """The URL from ``variable``, else ``default``; and the variable's name."""
    return {"url": os.environ.get(variable, default), "url_variable": variable}


BACKENDS: tuple[Backend, ...] = (
    Backend("in-memory", "in-process", "in-memory", shared=False),
    Backend("sqlite", "SQLite", "sql", module="memmark.sql"),
    Backend(
        "sqlite-memory",
        "SQLite :memory:",
        "sql",
        url="sqlite+aiosqlite://",
        module="memmark.sql",
        shared=False,
    ),
    Backend(
        "postgres",
        "PostgreSQL",
        "sql",
        **_url("MEMMARK_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
        server="shared",
        module="memmark.sql",
        holds_nul=False,
    ),
    Backend(
        "mariadb",
        "MariaDB",
        "sql",
        **_url("MEMMARK_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306/test"),
        server="shared",
        module="memmark.sql",
    ),
    Backend(
        "redis",
        "Redis",
        "redis",
        **_url("MEMMARK_REDIS_URL", "redis://127.0.0.1:6379/15"),
        server="shared",
        module="memmark.redis",
    ),
    Backend("redis-cluster", "Redis Cluster", "redis", server="throwaway", module="memmark.redis"),
    Backend(
        "fakeredis", "fakeredis", "redis", url="fakeredis://", module="memmark.redis", shared=False
    ),
)
"""Every backend, in the order tables list them."""

BY_ID: dict[str, Backend] = {b.id: b for b in BACKENDS}


def backends(*ids: str, kind: str | None = None) -> list[Backend]:
    """Return the rows named ``ids`` (every row when none), in table order, of ``kind`` if given."""
    unknown = set(ids) - set(BY_ID)
    if unknown:
        raise ValueError(f"no such backend: {', '.join(sorted(unknown))}")
    return [b for b in BACKENDS if (not ids or b.id in ids) and (kind is None or b.kind == kind)]


def params(*ids: str, kind: str | None = None) -> list[Any]:
    """``pytest.param`` per row (see :func:`backends`), each carrying its marker."""
    return [b.param() for b in backends(*ids, kind=kind)]


def id_params(*ids: str, kind: str | None = None) -> list[Any]:
    """Like :func:`params`, with the backend's id as the value instead of its row."""
    return [b.param(b.id) for b in backends(*ids, kind=kind)]


def register_markers(config: pytest.Config) -> None:
    """Declare the marker of every backend that needs a server (``--strict-markers``)."""
    for b in BACKENDS:
        if b.server == "shared":
            what = f"needs the {b.title} server ({b.url_variable})"
        elif b.server == "throwaway":
            what = f"starts a throwaway {b.title} on loopback ports"
        else:
            continue
        config.addinivalue_line("markers", f"{b.marker}: {what}")


def importable(backend: Backend) -> str | None:
    """Return why ``backend``'s package cannot be used yet, or ``None``."""
    try:
        importlib.import_module(backend.module)
    except ImportError as exc:
        return f"{backend.module} does not import ({exc})"
    return None


def usable(request: pytest.FixtureRequest, backend: Backend) -> Backend:
    """Return ``backend`` resolved for the running test, or skip (fail under CI).

    A shared server must answer; the cluster is the run's throwaway one (the
    ``redis_cluster`` fixture); SQLite gets a file in a new temporary
    directory.
    """
    why = importable(backend)
    if why is not None:
        unavailable(why)  # under MEMMARK_REQUIRE_SERVERS a backend that won't import fails
    if backend.server == "shared":
        require_server(backend.title, backend.url)
    elif backend.server == "throwaway":
        require_binaries("redis-server", "redis-cli")
        return replace(backend, url=request.getfixturevalue("redis_cluster").url)
    if backend.id == "sqlite" and not backend.url:
        # The factory, not tmp_path: a module-scoped fixture may ask too.
        path: Path = request.getfixturevalue("tmp_path_factory").mktemp("sqlite") / "memory.db"
        return replace(backend, url=f"sqlite+aiosqlite:///{path}")
    return backend


def server_url(backend_id: str) -> str:
    """Return the URL of a shared-server backend if it answers; otherwise skip (fail under CI)."""
    backend = BY_ID[backend_id]
    return require_server(backend.title, backend.url)


# -- drivers ----------------------------------------------------------------------


def sql_engine(url: str, **kwargs: Any) -> Any:
    """Return an ``AsyncEngine`` on ``url`` (an in-memory SQLite shares one connection)."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import StaticPool

    if url.startswith("sqlite") and "/" not in url.split("://", 1)[1]:
        # One shared connection, or every checkout would see its own empty database.
        kwargs.setdefault("poolclass", StaticPool)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
    return create_async_engine(url, **kwargs)


def redis_client(url: str, **kwargs: Any) -> Any:
    """Return a ``redis.asyncio`` client for ``url``.

    ``redis+cluster://host:port`` gives a cluster client, ``fakeredis://`` a
    fakeredis client on a server of its own.
    """
    import redis.asyncio as aioredis

    if url.startswith("redis+cluster://"):
        host, port = url.removeprefix("redis+cluster://").split(":")
        return aioredis.RedisCluster(host=host, port=int(port), **kwargs)
    if url.startswith("fakeredis://"):
        import fakeredis

        return fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer(), **kwargs)
    return aioredis.Redis.from_url(url, **kwargs)


def table_prefix() -> str:
    """Return a SQL table prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}_"


def key_prefix() -> str:
    """Return a Redis key prefix no other test uses (safe inside a SCAN MATCH pattern)."""
    return f"mmtest:{uuid.uuid4().hex}:"


async def drop_tables(engine: Any, prefix: str) -> None:
    """Drop the tables of ``prefix`` (a test's own, nothing else)."""
    from memmark.sql import make_metadata

    async with engine.begin() as conn:
        await conn.run_sync(make_metadata(prefix).drop_all)


async def drop_keys(client: Any, prefix: str) -> None:
    """Delete every key under ``prefix`` (tests only; the library never scans)."""
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    for key in keys:
        await client.delete(key)


# -- memory factories ---------------------------------------------------------------


def in_process_factory(
    cls: type[InMemoryMemory] = InMemoryMemory,
) -> Callable[[], contextlib.AbstractAsyncContextManager[MemoryFactory]]:
    """Return a factory context making handles on ``cls`` memories, one instance per pair.

    The in-process memory has no ids: one instance stands for one session,
    and every handle on a pair is a handle on that instance. Each context
    has stores of its own, as a ``memory://`` name of its own would.
    """

    @contextlib.asynccontextmanager
    async def context() -> AsyncIterator[MemoryFactory]:
        stores = InProcessStores(cls)

        async def make(user_id: str, session_id: str) -> MemoryBase:
            return stores.open(user_id, session_id)

        yield make

    return context


@contextlib.asynccontextmanager
async def memory_factory(
    backend: Backend, *, decoded: bool = False, prefix: str | None = None, cache: bool = True
) -> AsyncIterator[MemoryFactory]:
    """A :data:`MemoryFactory` on a resolved backend; what its memories stored goes at the end.

    Args:
        backend: A row resolved by :func:`usable`.
        decoded: Redis only: a client made with ``decode_responses=True``,
            handed over as its connection pool (the tutorial's FastAPI way).
        prefix: The table or key prefix; a unique one when ``None``.
        cache: SQL only: the memories' ``message_cache`` (``False``: none).
    """
    if backend.kind == "in-memory":
        async with in_process_factory()() as make:
            yield make
        return
    made: list[MemoryBase] = []
    if backend.kind == "sql":
        from memmark.sql import AsyncSQLAlchemyMemory

        engine = sql_engine(backend.url)
        tables = prefix or table_prefix()

        async def make_sql(user_id: str, session_id: str) -> MemoryBase:
            memory = AsyncSQLAlchemyMemory(
                engine,
                session_id=session_id,
                user_id=user_id,
                table_prefix=tables,
                message_cache=cache,
            )
            made.append(memory)
            return memory

        try:
            yield make_sql
        finally:
            for memory in made:
                await memory.close()
            try:
                await drop_tables(engine, tables)
            finally:
                await engine.dispose()
        return

    from memmark.redis import RedisMemory

    client = redis_client(backend.url, decode_responses=decoded)
    keys = prefix or key_prefix()

    async def make_redis(user_id: str, session_id: str) -> MemoryBase:
        if decoded:  # a pool, and a client the memory owns
            memory = RedisMemory(
                session_id=session_id,
                user_id=user_id,
                connection_pool=client.connection_pool,
                key_prefix=keys,
            )
        else:
            memory = RedisMemory(
                session_id=session_id, user_id=user_id, client=client, key_prefix=keys
            )
        made.append(memory)
        return memory

    try:
        yield make_redis
    finally:
        for memory in made:
            await memory.close()
        await drop_keys(client, keys)
        await client.aclose()


class BackendConformance(MemoryConformance):
    """The conformance suite on rows of the table.

    A subclass parametrises an autouse fixture over :func:`params` and calls
    :meth:`use` from it; every test of the suite then runs on each row.
    """

    backend: Backend
    decoded: bool = False
    cache: bool = True

    def use(
        self,
        request: pytest.FixtureRequest,
        backend: Backend,
        decoded: bool = False,
        cache: bool = True,
    ) -> None:
        """Run this test on ``backend`` (resolved here), with a decoding client if asked.

        ``cache=False``: memories without a message cache, where they have one.
        """
        self.backend = usable(request, backend)
        self.decoded = decoded
        self.cache = cache
        if not backend.holds_nul:
            self.hostile_ids = self.hostile_ids_without_nul

    def memory_factory(self) -> contextlib.AbstractAsyncContextManager[MemoryFactory]:
        return memory_factory(self.backend, decoded=self.decoded, cache=self.cache)
