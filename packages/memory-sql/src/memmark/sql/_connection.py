"""How a call reaches the database: a connection, a transaction, retries.

A :class:`Connector` runs one call's work on a connection from an engine's
pool (one transaction per call, retried after a deadlock or a lost
connection) or on the caller's ``AsyncSession`` (in the caller's
transaction). On PostgreSQL with an engine it can hand the work the asyncpg
connection under a pooled one (:meth:`Connector.run_raw`). It also keeps,
per engine, whether a prefix's tables exist (DDL once per engine) and the
lock that serialises calls where the database takes one writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.pool import PoolProxiedConnection, SingletonThreadPool, StaticPool
from sqlalchemy.util import greenlet_spawn

from memmark.sql._open import note_server
from memmark.sql._postgres import PostgresStatements
from memmark.sql._retry import ATTEMPTS, Retries
from memmark.sql._schema import id_digest, make_tables
from memmark.sql._statements import Statements, create_tables

_T = TypeVar("_T")

# Raw asyncpg checkouts found closed before use are dropped without a round
# trip; a pool holds no more than this many (it re-creates the rest).
_MAX_DEAD_CHECKOUTS = 64


class Driver(Protocol):
    """What PostgreSQL's SQL text needs of a connection: asyncpg's ``fetch``."""

    async def fetch(self, sql: str, *args: Any) -> Sequence[Any]:
        """Run ``sql`` with positional ``args``; return its rows."""


class CoreDriver:
    """A SQLAlchemy connection seen as a :class:`Driver` (``exec_driver_sql``)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> Sequence[Any]:
        """Run ``sql`` in the connection's transaction; return its rows."""
        return (await self._conn.exec_driver_sql(sql, args)).all()


Work = Callable[[AsyncConnection, Statements], Awaitable[_T]]
# asyncpg is optional (the postgres extra), so its connection is typed loosely.
RawWork = Callable[[Any, PostgresStatements], Awaitable[_T]]
TextWork = Callable[[Driver, PostgresStatements], Awaitable[_T]]


class _EngineState:
    """What one engine remembers across every memory made on it."""

    __slots__ = ("__weakref__", "ddl_lock", "lock", "statements", "token")

    def __init__(self, serialize: bool) -> None:
        # Names the engine in the message cache's keys: a plain object, so a
        # key holds no engine alive, and never the same for two engines.
        self.token = object()
        # prefix -> statements; a prefix is here once its tables exist.
        self.statements: dict[str, Statements] = {}
        self.ddl_lock = asyncio.Lock()
        # SQLite takes one writer at a time, and a static pool hands every
        # caller the same connection: calls on such an engine take turns here
        # rather than in SQLite's busy loop (or, worse, on one connection).
        self.lock = asyncio.Lock() if serialize else None


# Keyed by the sync Engine (an AsyncEngine is a proxy that may be rebuilt), weak
# so a disposed, dropped engine takes its entry with it.
_ENGINES: weakref.WeakKeyDictionary[Engine, _EngineState] = weakref.WeakKeyDictionary()
# One lock per AsyncSession: a session runs one statement at a time, and
# parallel tool calls may share it through one or several memories.
_SESSION_LOCKS: weakref.WeakKeyDictionary[AsyncSession, asyncio.Lock] = weakref.WeakKeyDictionary()


def _engine_state(engine: Engine) -> _EngineState:
    state = _ENGINES.get(engine)
    if state is None:
        serialize = engine.dialect.name == "sqlite" or isinstance(
            engine.pool, (StaticPool, SingletonThreadPool)
        )
        state = _ENGINES[engine] = _EngineState(serialize)
    return state


def _session_lock(session: AsyncSession) -> asyncio.Lock:
    lock = _SESSION_LOCKS.get(session)
    if lock is None:
        lock = _SESSION_LOCKS[session] = asyncio.Lock()
    return lock


async def _give_back(fairy: PoolProxiedConnection, reusable: bool) -> None:
    """Return a raw checkout to its pool, or drop it when its state is unknown."""
    # In a greenlet, like SQLAlchemy's own release: returning may close a
    # connection the pool has no room for, which awaits the driver.
    if reusable:
        await greenlet_spawn(fairy.close)
    else:
        # A call interrupted mid-statement (cancelled, connection lost) may
        # leave the connection busy or inside a transaction: never reuse it.
        # Shielded, so a second cancellation cannot leak the checkout.
        await asyncio.shield(greenlet_spawn(fairy.invalidate))


async def _raw_checkout(engine: AsyncEngine) -> tuple[PoolProxiedConnection, Any]:
    """Check out a pooled connection whose asyncpg connection is still open.

    asyncpg marks a connection closed as soon as the event loop sees the
    server hang up, so connections the server dropped while they sat in the
    pool are found here and replaced, without a failed call.
    """
    for _ in range(_MAX_DEAD_CHECKOUTS):
        fairy = await engine.raw_connection()
        conn: Any = fairy.driver_connection
        if not conn.is_closed():
            return fairy, conn
        await _give_back(fairy, reusable=False)
    raise ConnectionError("every pooled connection to the database was closed")


async def _finish_on_cancel(call: Awaitable[_T]) -> _T:
    """Await ``call`` in its own task; if the caller is cancelled, let it end first.

    The caller's cancellation is raised once the call has finished (applied
    whole, or failed and rolled back), never in the middle of it.
    """
    task = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            # A second cancellation must not strand the call either.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait((task,))
        if not task.cancelled():
            task.exception()  # retrieved: the caller gets its cancellation instead
        raise


class Connector:
    """Runs a memory's calls on an engine's pool or on the caller's session.

    Args:
        engine_or_session: An ``AsyncEngine`` or an ``AsyncSession``.
        table_prefix: The prefix of the tables the calls use.
        session_key: The digest of the memory's ``(user_id, session_id)``.
        session_row: The memory's ``user_id`` and ``session_id``, for the
            session's row every write makes or updates (see ``Statements.bump``).

    Raises:
        TypeError: ``engine_or_session`` is neither.
    """

    def __init__(
        self,
        engine_or_session: AsyncEngine | AsyncSession,
        table_prefix: str,
        session_key: bytes,
        session_row: tuple[str, str],
    ) -> None:
        self.engine: AsyncEngine | None = None
        self.session: AsyncSession | None = None
        if isinstance(engine_or_session, AsyncEngine):
            self.engine = engine_or_session
            sync: Engine = engine_or_session.sync_engine
        elif isinstance(engine_or_session, AsyncSession):
            self.session = engine_or_session
            bind = engine_or_session.get_bind()
            sync = bind.engine if isinstance(bind, Connection) else bind
        else:
            raise TypeError(
                "engine_or_session: expected an AsyncEngine or an AsyncSession, "
                f"got {type(engine_or_session).__name__}"
            )
        self.table_prefix = table_prefix
        self.postgres = sync.dialect.name == "postgresql"
        # Engine mode on PostgreSQL runs the hot calls on asyncpg directly
        # (see run_raw); with a session, the caller's transaction decides.
        self.raw = self.postgres and self.engine is not None
        # aiosqlite runs SQLite in a thread. A call cancelled mid-transaction
        # makes SQLAlchemy terminate its connection, which on aiosqlite stops
        # the thread without closing the database: the open transaction keeps
        # the write lock and every later write fails "database is locked".
        # So on SQLite a call runs to its end, and a cancellation takes effect
        # then (the call is local and short). So does every call on a
        # caller's session: cancelled mid-call, the session would be left
        # inside a transaction the memory began, or in the middle of its
        # commit ("prepared"), refusing every later call until the caller
        # rolled back; run to its end, the call has committed or rolled back
        # whole, and a retry finds the session as any other call leaves it.
        self._finish_first = sync.dialect.name == "sqlite" or self.session is not None
        user_id, session_id = session_row
        # The session row's values (PostgreSQL text: $1 to $4), for Statements.bump.
        self.bump_args = (session_key, id_digest(user_id), user_id, session_id)
        names = ("sid", "uid", "user_id", "session_id")
        # The same by name, for Statements.bump; '""': no summary, in JSON.
        self.bump_params = {**dict(zip(names, self.bump_args, strict=True)), "no_summary": '""'}
        self._state = _engine_state(sync)
        # Where the message cache holds this engine's sessions: a token of the
        # engine, not its URL (two in-memory SQLite engines share one).
        self.cache_scope = (self._state.token, table_prefix)
        self.statements: Statements | None = self._state.statements.get(table_prefix)

    def cacheable(self) -> bool:
        """Whether what a call now reads or writes may go to the message cache.

        Not inside a transaction the caller opened on its session: that
        transaction may still roll back, and a version it wrote would then be
        written again by another with other content.
        """
        return self.session is None or not self.session.in_transaction()

    # -- the tables -----------------------------------------------------------------

    async def ready(self) -> Statements:
        """Return the statements, creating the tables first if this engine has not."""
        state = self._state
        statements = state.statements.get(self.table_prefix)
        if statements is None:
            async with state.ddl_lock:
                statements = state.statements.get(self.table_prefix)
                if statements is None:
                    statements = await self._create_tables()
                    state.statements[self.table_prefix] = statements
        self.statements = statements
        return statements

    async def _create_tables(self) -> Statements:
        tables = make_tables(self.table_prefix)
        engine = self.engine
        if engine is None and self.session is not None:
            bind = self.session.bind
            if isinstance(bind, AsyncEngine):
                engine = bind
            else:
                # A session bound to a connection: create the tables on it.
                conn = await self.session.connection()
                return await conn.run_sync(create_tables, tables)
        assert engine is not None
        for attempt in range(ATTEMPTS):
            try:
                # Its own connection and transaction: never inside the caller's
                # transaction (MySQL commits implicitly around DDL).
                async with engine.begin() as conn:
                    return await conn.run_sync(create_tables, tables)
            except DBAPIError:
                # Another process created them at the same moment; the next
                # look (checkfirst) sees them.
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable: the last attempt returned or raised")

    # -- running work ---------------------------------------------------------------

    async def run(
        self,
        work: Work[_T],
        *,
        write: bool,
        single: bool = False,
        once: bool = False,
    ) -> _T:
        """Run ``work`` in one transaction (or one autocommit statement when ``single``).

        Args:
            work: Given a connection and the statements.
            write: Whether ``work`` writes (commit it; retry a deadlock).
            single: ``work`` runs exactly one statement, atomic on its own.
            once: ``work`` must not run again after a lost connection (it
                may have committed, and running it twice would not give the
                same end state); a deadlock, rolled back, still runs it again.
        """
        if self._finish_first:
            return await _finish_on_cancel(self._run_now(work, write, single, once))
        return await self._run_now(work, write, single, once)

    async def run_text(self, work: TextWork[_T], *, write: bool, tx: bool) -> _T:
        """Run PostgreSQL text ``work`` on asyncpg (engine) or in the session.

        Args:
            work: Given a :class:`Driver` and the statements.
            write: Whether ``work`` writes.
            tx: ``work`` needs a transaction (otherwise it runs one statement).
        """
        if self.raw:
            return await self.run_raw(work, write=write, tx=tx)
        return await self.run(_on_core_driver(work), write=write, single=not tx)

    async def _run_now(self, work: Work[_T], write: bool, single: bool, once: bool = False) -> _T:
        session = self.session
        if session is not None:
            async with _session_lock(session):
                return await self._run_on_session(session, work, write)
        engine = self.engine
        assert engine is not None
        async with self._state.lock or contextlib.nullcontext():
            statements = self.statements or await self.ready()
            retries = Retries()
            while True:
                autocommit = single and statements.autocommit
                try:
                    async with self._engine_tx(engine, write, autocommit) as conn:
                        return await work(conn, statements)
                except DBAPIError as exc:
                    # SQLAlchemy flags a lost connection and invalidates the
                    # pool's older connections with it, so one retry gets a
                    # fresh one.
                    lost = exc.connection_invalidated and not once
                    if lost and retries.after_lost_connection():
                        continue
                    if not await retries.after_failure(write, exc.orig):
                        raise

    async def _run_on_session(self, session: AsyncSession, work: Work[_T], write: bool) -> _T:
        statements = self.statements or await self.ready()
        retries = Retries()
        while True:
            # A write in a transaction the memory began is rolled back whole
            # by a deadlock, as on an engine, and runs again; in the caller's
            # transaction, the caller's work went with it: raised.
            began = not session.in_transaction()
            try:
                async with self._session_tx(session, write) as conn:
                    return await work(conn, statements)
            except DBAPIError as exc:
                if not began or not await retries.after_failure(write, exc.orig):
                    raise

    async def run_write(self, work: Work[_T]) -> tuple[_T, int]:
        """Run the write ``work`` in one transaction, after the session row's upsert.

        The upsert (``Statements.bump``) makes the session's row or moves its
        version on, and holds the row locked until the commit: the session's
        lock, so ``work`` sees every write of the session committed before it
        and none commits during it.

        Returns:
            What ``work`` returned, and the session's version it wrote.
        """
        params = self.bump_params

        async def bumped(conn: AsyncConnection, statements: Statements) -> tuple[_T, int]:
            version = int((await conn.execute(statements.bump, params)).scalar_one())
            return await work(conn, statements), version

        return await self.run(bumped, write=True)

    @staticmethod
    @contextlib.asynccontextmanager
    async def _engine_tx(
        engine: AsyncEngine, write: bool, autocommit: bool
    ) -> AsyncIterator[AsyncConnection]:
        if autocommit:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn
        elif write:
            async with engine.begin() as conn:
                yield conn
        else:
            async with engine.connect() as conn:
                yield conn

    @staticmethod
    @contextlib.asynccontextmanager
    async def _session_tx(session: AsyncSession, write: bool) -> AsyncIterator[AsyncConnection]:
        if not write:
            if session.in_transaction():
                yield await session.connection()
                return
            # A transaction the read began is ended with it: left open, it
            # would hold SQLite's lock, keep MariaDB's snapshot (later reads
            # would miss other sessions' writes) and idle on PostgreSQL.
            # Rolled back: the read wrote nothing, and the caller's objects
            # never flushed stay pending.
            try:
                yield await session.connection()
            finally:
                await session.rollback()
            return
        if session.in_transaction():
            # The caller's transaction: ours joins it in a savepoint (a
            # failure undoes only our statements) and the caller's commit or
            # rollback decides for both. Never committed here: that would
            # commit the caller's own pending work behind its back.
            await _begin_sqlite(await session.connection())
            async with session.begin_nested():
                yield await session.connection()
            return
        try:
            yield await session.connection()
        except BaseException:
            await session.rollback()
            raise
        await session.commit()

    async def run_raw(self, work: RawWork[_T], *, write: bool, tx: bool) -> _T:
        """Run ``work`` on the asyncpg connection under a pooled SQLAlchemy one.

        The pool still checks the connection out and takes it back (or drops
        it when a call was interrupted), but statements skip SQLAlchemy's
        execute path, and asyncpg reuses each prepared statement.

        Args:
            work: Given the asyncpg connection and the statements.
            write: Whether ``work`` writes (retry a deadlock).
            tx: Run ``work`` in a transaction; otherwise it runs one statement,
                atomic on its own, with no BEGIN/COMMIT round trips.
        """
        engine = self.engine
        assert engine is not None
        async with self._state.lock or contextlib.nullcontext():
            statements = self.statements or await self.ready()
            assert isinstance(statements, PostgresStatements)
            retries = Retries()
            while True:
                fairy, conn = await _raw_checkout(engine)
                reusable = False
                try:
                    if conn.is_in_transaction():
                        # A pool "connect" hook ran a statement through the
                        # DBAPI cursor, which opened a transaction the pool
                        # would roll back on return, with our writes in it.
                        # Commit it first, as a Core write would have.
                        await greenlet_spawn(fairy.dbapi_connection.commit)  # type: ignore[union-attr]
                    if tx:
                        # asyncpg rolls back on any exception, cancellation too.
                        async with conn.transaction():
                            result = await work(conn, statements)
                    else:
                        result = await work(conn, statements)
                    reusable = True
                    return result
                except Exception as exc:
                    # This path skips SQLAlchemy's error hooks: name the server here.
                    note_server(exc, engine.url.render_as_string(hide_password=True))
                    if conn.is_closed():
                        # The connection was lost under the call (asyncpg
                        # raises ConnectionDoesNotExistError, InterfaceError
                        # or InternalClientError for it): run it again on
                        # another (see memmark.sql._retry.RECONNECTS).
                        if retries.after_lost_connection():
                            continue
                        raise
                    # A server error leaves the connection idle: keep it.
                    reusable = not conn.is_in_transaction()
                    failed: BaseException = exc
                finally:
                    await _give_back(fairy, reusable)
                # Decided once the connection is back in the pool, as the
                # back-off waits.
                if not await retries.after_failure(write, failed):
                    raise failed


async def _begin_sqlite(conn: AsyncConnection) -> None:
    """Make SQLite's transaction real before a savepoint that must not commit.

    pysqlite (under aiosqlite) sends no ``BEGIN`` until the first write, so a
    transaction the caller opened may not have begun in SQLite yet; a
    ``SAVEPOINT`` then begins one itself, and its ``RELEASE`` commits it,
    the caller's rollback notwithstanding. An explicit ``BEGIN`` first keeps
    the savepoint inside the caller's transaction (an engine set up as
    SQLAlchemy's SQLite notes advise has begun already: nothing is sent).
    """
    if conn.dialect.name != "sqlite":
        return
    raw = await conn.get_raw_connection()
    if not raw.driver_connection.in_transaction:  # type: ignore[union-attr]
        await conn.exec_driver_sql("BEGIN")


def _on_core_driver(work: TextWork[_T]) -> Work[_T]:
    """``work`` given a SQLAlchemy connection, through :class:`CoreDriver`."""

    async def on_core(conn: AsyncConnection, statements: Statements) -> _T:
        assert isinstance(statements, PostgresStatements)
        return await work(CoreDriver(conn), statements)

    return on_core
