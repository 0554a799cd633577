"""How the reliability runs open a store on a row of the backend table, and watch it.

A :class:`~tests.backends.Backend` row is plain data (picklable), so worker
processes can open their own store from it. :func:`open_store` turns a row,
with the server address resolved, into a :class:`Store` that makes memories
bound to ``(user_id, session_id)`` pairs and removes what they wrote
afterwards; the functions below count and kill the store's connections.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from memmark.core import InMemoryMemory, MemoryBase
from tests import backends as tables
from tests.backends import Backend, backends, redis_client

RELIABILITY_BACKENDS = backends(
    "in-memory", "sqlite", "postgres", "mariadb", "redis", "redis-cluster"
)
"""The rows every guarantee is measured on (fakeredis and a private :memory: SQLite
have no network, server or other process to fault)."""


@dataclass
class Store:
    """Memories on one backend, and the means to inspect and clean them.

    Attributes:
        backend: The resolved row.
        tag: A string unique to this store, put in front of every user id so
            that runs never meet (and so cleanup can find what they wrote).
        client: The shared driver object: an engine, a redis client, or ``None``.
    """

    backend: Backend
    tag: str
    client: Any = None
    made: list[MemoryBase] = field(default_factory=list)
    server_ids: set[int] = field(default_factory=set)
    _inproc: dict[tuple[str, str], InMemoryMemory] = field(default_factory=dict)
    _make: Callable[[str, str], MemoryBase] | None = None

    async def make(self, user_id: str, session_id: str, *, raw_ids: bool = False) -> MemoryBase:
        """Return a new handle on ``(user_id, session_id)``.

        Args:
            user_id: The user id; prefixed with :attr:`tag` unless ``raw_ids``.
            session_id: The session id, used as is.
            raw_ids: Use ``user_id`` exactly as given (hostile-id runs), relying
                on the store's own cleanup of what was made.
        """
        user = user_id if raw_ids else self.tag + user_id
        if self.backend.kind == "in-memory":
            return self._inproc.setdefault((user, session_id), InMemoryMemory())
        assert self._make is not None
        memory = self._make(user, session_id)
        self.made.append(memory)
        return memory

    @property
    def client_name(self) -> str:
        """The name this store's redis connections give the server (``CLIENT SETNAME``)."""
        return "memmark-rel-" + self.tag.strip(":").replace(" ", "_")

    async def connections(self) -> dict[str, int]:
        """Return the client's pool counts and the server's count of our connections.

        ``checked_out`` is what the pool has lent and not got back; ``pooled``
        every connection the client holds; ``server`` the connections the
        server sees from this store (``-1`` where it cannot tell).
        """
        kind = self.backend.kind
        if kind == "in-memory":
            return {"checked_out": 0, "pooled": 0, "server": 0}
        if kind == "sql":
            pool = self.client.pool
            checked_out = pool.checkedout()
            return {
                "checked_out": checked_out,
                "pooled": checked_out + pool.checkedin(),
                "server": await sql_server_connections(self.backend.url, self.server_ids),
            }
        return await redis_connections(self.client, self.client_name)

    async def wipe(self) -> None:
        """Remove the sessions the store's memories wrote, whole."""
        for memory in self.made:
            with contextlib.suppress(Exception):
                await memory.delete_session()
            with contextlib.suppress(Exception):
                await memory.close()
        self.made.clear()
        self._inproc.clear()


def sql_engine(url: str, **kwargs: Any) -> Any:
    """Return an ``AsyncEngine`` for ``url`` with the settings the runs use."""
    if url.startswith("sqlite"):
        # Several processes write one file: wait for the lock instead of failing.
        kwargs.setdefault("connect_args", {"timeout": 20})
    engine = tables.sql_engine(url, **kwargs)
    if url.startswith("sqlite") and url.count("/") >= 3 and ":memory:" not in url:
        _write_ahead_log(engine)  # a file, not an in-memory database
    return engine


def _write_ahead_log(engine: Any) -> None:
    """Put the SQLite file in WAL mode, as the memmark-sql README advises for many processes.

    In the default rollback-journal mode a reader blocks every writer, so
    eight writer processes beside readers and deleters spend their time in
    the busy timeout (27 adds/s, p99 5.9 s in the full run). The mode is kept
    in the file; a PRAGMA opens no transaction.
    """
    from sqlalchemy import event

    @event.listens_for(engine.sync_engine, "connect")
    def _wal(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def _server_id(driver_connection: Any) -> int | None:
    """Return the server's id of a driver connection, known from its handshake (no I/O)."""
    get_pid = getattr(driver_connection, "get_server_pid", None)  # asyncpg
    if get_pid is not None:
        return int(get_pid())
    thread = getattr(driver_connection, "server_thread_id", None)  # asyncmy
    if thread:
        return int(thread[0] if isinstance(thread, tuple) else thread)
    return None


def track_server_ids(engine: Any, ids: set[int]) -> None:
    """Record the server-side id of every connection ``engine`` opens into ``ids``.

    The ids let fault tests terminate exactly the memory's own connections
    (never a colleague's on the shared server) and count what is left open.
    The id comes from the connection handshake: running a statement here
    would open a transaction on the new connection (see
    ``test_concurrent_writers.test_connect_hook_keeps_acknowledged_writes``).
    """
    from sqlalchemy import event

    @event.listens_for(engine.sync_engine, "connect")
    def _remember(dbapi_connection: Any, _record: Any) -> None:
        one = _server_id(getattr(dbapi_connection, "driver_connection", None))
        if one is not None:
            ids.add(one)


def admin_engine(url: str) -> Any:
    """An engine without a pool, for looking at and killing the store's connections."""
    from sqlalchemy.pool import NullPool

    return sql_engine(url, poolclass=NullPool)


async def sql_server_connections(url: str, ids: set[int]) -> int:
    """Return how many of the connections ``ids`` the server still has open (-1: unknown)."""
    from sqlalchemy import text

    if url.startswith("sqlite"):
        return -1
    if not ids:
        return 0
    listed = ",".join(str(i) for i in sorted(ids))
    if url.startswith("postgresql"):
        query = f"SELECT count(*) FROM pg_stat_activity WHERE pid IN ({listed})"
    else:
        query = f"SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID IN ({listed})"
    engine = admin_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(query))).scalar_one())
    finally:
        await engine.dispose()


async def kill_sql_connections(url: str, ids: set[int]) -> int:
    """Terminate the server connections ``ids`` from another connection; return how many."""
    from sqlalchemy import text

    engine = admin_engine(url)
    killed = 0
    try:
        async with engine.connect() as conn:
            for one in sorted(ids):
                if url.startswith("postgresql"):
                    row = await conn.execute(text(f"SELECT pg_terminate_backend({one})"))
                    killed += bool(row.scalar_one())
                else:
                    try:
                        await conn.execute(text(f"KILL CONNECTION {one}"))
                        killed += 1
                    except Exception:  # already gone: nothing to kill
                        pass
    finally:
        await engine.dispose()
    return killed


async def redis_connections(client: Any, name: str) -> dict[str, int]:
    """Return pool counts of a redis client and the server's count of connections named ``name``."""
    import redis.asyncio as aioredis

    if isinstance(client, aioredis.RedisCluster):
        nodes = client.get_nodes()
        pooled = sum(len(getattr(n, "_connections", ())) for n in nodes)
        free = sum(len(getattr(n, "_free", ())) for n in nodes)
        server = 0
        for node in nodes:
            probe = aioredis.Redis(host=node.host, port=int(node.port))
            try:
                server += await _named_clients(probe, name)
            finally:
                await probe.aclose()
        return {"checked_out": pooled - free, "pooled": pooled, "server": server}
    pool = client.connection_pool
    in_use = len(pool._in_use_connections)
    # Only connections that are really open count: a pool keeps closed ones
    # for reuse, and the server does not see them.
    available = sum(1 for c in pool._available_connections if c.is_connected)
    kwargs = pool.connection_kwargs
    probe = aioredis.Redis(
        host=kwargs.get("host", "127.0.0.1"),
        port=int(kwargs.get("port", 6379)),
        db=int(kwargs.get("db", 0)),
    )
    try:
        server = await _named_clients(probe, name)
    finally:
        await probe.aclose()
    return {"checked_out": in_use, "pooled": in_use + available, "server": server}


async def _named_clients(probe: Any, name: str) -> int:
    listing = await probe.execute_command("CLIENT", "LIST")
    if isinstance(listing, bytes):
        listing = listing.decode()
    return sum(1 for line in listing.splitlines() if f" name={name} " in f" {line} ")


@contextlib.asynccontextmanager
async def open_store(
    backend: Backend,
    *,
    client_kwargs: dict[str, Any] | None = None,
    engine_kwargs: dict[str, Any] | None = None,
    memory_kwargs: dict[str, Any] | None = None,
    tag: str | None = None,
    wipe: bool = True,
) -> AsyncIterator[Store]:
    """Open a :class:`Store` on a resolved backend; clean and close it on exit.

    Args:
        backend: A row whose URL is resolved (see :func:`resolve`).
        client_kwargs: Extra arguments for the redis client.
        engine_kwargs: Extra arguments for ``create_async_engine``.
        memory_kwargs: Extra arguments for each memory's constructor.
        tag: The user-id prefix; a fresh one when ``None``.
        wipe: Remove what the memories wrote on exit.
    """
    store = Store(backend, tag if tag is not None else f"rel-{uuid.uuid4().hex[:12]}:")
    mkw = dict(memory_kwargs or {})
    if backend.kind == "sql":
        from memmark.sql import AsyncSQLAlchemyMemory

        engine = sql_engine(backend.url, **(engine_kwargs or {}))
        store.client = engine
        track_server_ids(engine, store.server_ids)
        store._make = lambda u, s: AsyncSQLAlchemyMemory(engine, session_id=s, user_id=u, **mkw)
    elif backend.kind == "redis":
        from memmark.redis import RedisMemory

        ckw = {"client_name": store.client_name, **(client_kwargs or {})}
        client = redis_client(backend.url, **ckw)
        store.client = client
        store._make = lambda u, s: RedisMemory(session_id=s, user_id=u, client=client, **mkw)
    try:
        yield store
    finally:
        try:
            if wipe:
                await store.wipe()
        finally:
            if backend.kind == "sql":
                await store.client.dispose()
            elif backend.kind == "redis":
                await store.client.aclose()
