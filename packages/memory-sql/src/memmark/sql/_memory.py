"""The memory on a SQL database, through async SQLAlchemy Core."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from itertools import islice
from operator import itemgetter
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.pool import PoolProxiedConnection, SingletonThreadPool, StaticPool
from sqlalchemy.util import greenlet_spawn

from memmark.core import DuplicateMessageError, Msg, StateContent, StoreBackedMemory
from memmark.sql._pg import PgSQL, ReadKey
from memmark.sql._plan import ARRAY_ROWS, MAX_IN, MAX_PARAMS, Plan
from memmark.sql._schema import DEFAULT_PREFIX, id_digest, make_tables, pair_digest

_T = TypeVar("_T")
_Op = Callable[[AsyncConnection, Plan], Awaitable[_T]]
# asyncpg is optional (the postgres extra), so its connection is typed loosely.
_RawOp = Callable[[Any, PgSQL], Awaitable[_T]]

# The stdlib's encoder, built once (json.dumps with options builds one per
# call), for what orjson refuses: integers beyond 64 bits, non-str keys, lone
# surrogates.
_std_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_by_seq = itemgetter(1)
_new = object.__new__


def _dumps(value: Any) -> str:
    # orjson writes the same compact text as _std_dumps, several times faster;
    # it differs only on NaN and infinities, which it writes as null (JSON
    # has no such numbers; PostgreSQL and MariaDB refuse the stdlib's).
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return _std_dumps(value)


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # what the stdlib wrote (NaN, lone surrogates)


def _loads_many(texts: list[str]) -> list[Any]:
    """Decode many JSON texts in one call: one array costs less than a loop."""
    try:
        return cast("list[Any]", orjson.loads("[" + ",".join(texts) + "]"))
    except orjson.JSONDecodeError:
        return [_loads(t) for t in texts]


def _to_msgs(dicts: Iterable[dict[str, Any]]) -> list[Msg]:
    # The rows are Msg.to_dict() of valid messages, written by this class, so
    # the checks of Msg.from_dict would only repeat what held when they were
    # stored; setting the slots directly keeps long reads cheap.
    out: list[Msg] = []
    append = out.append
    for d in dicts:
        m = _new(Msg)
        m.id = d["id"]
        m.name = d["name"]
        m.role = d["role"]
        m.content = d["content"]
        m.metadata = d["metadata"]
        m.timestamp = d["timestamp"]
        m.invocation_id = d.get("invocation_id")
        append(m)
    return out


# Deadlocks and serialisation failures (PostgreSQL SQLSTATE, MySQL error
# numbers): the server rolled the whole transaction back, so running the same
# call again is safe (ids make writes idempotent).
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})
_RETRY_MYSQL = frozenset({1213, 1205})
_ATTEMPTS = 8


async def _back_off(attempt: int) -> None:
    """Wait a random while, longer each attempt, before a deadlocked call runs again.

    Writers that deadlocked on each other and retried at once would meet
    again in the same order; a random wait (up to 2, 4, ... 128 ms) lets one
    go first.
    """
    await asyncio.sleep(random.uniform(0, 0.001 * 2**attempt))


# A pooled connection the server closed (restart, fail-over, idle timeout,
# pg_terminate_backend) fails the call it is handed. Every call is idempotent
# by message id, so a call that failed on a lost connection runs again on
# another one; the server either committed the lost transaction or rolled it
# back, and the retry finds the same end state either way. Bounded, so a
# server that drops every connection still fails the call.
_RECONNECTS = 3
# Raw asyncpg checkouts found closed before use are dropped without a round
# trip; a pool holds no more than this many (it re-creates the rest).
_MAX_DEAD_CHECKOUTS = 64


class _EngineState:
    """What one engine remembers across every memory made on it."""

    __slots__ = ("__weakref__", "ddl_lock", "lock", "plans")

    def __init__(self, serialize: bool) -> None:
        # prefix -> statements; a prefix is here once its tables exist.
        self.plans: dict[str, Plan] = {}
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


def _chunks(items: Sequence[_T], size: int) -> Iterable[Sequence[_T]]:
    if not items:
        return  # executing with no rows is an error in SQLAlchemy
    if len(items) <= size:
        yield items
        return
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _rolled_back(error: BaseException | None) -> bool:
    """Whether the driver's ``error`` says the server rolled the transaction back.

    Deadlocks, serialisation failures and lock waits: the whole call may run
    again.
    """
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if code in _RETRY_SQLSTATES:
        return True
    args = getattr(error, "args", ())
    if args and args[0] in _RETRY_MYSQL:
        return True
    return "database is locked" in str(error)


class _Retries:
    """When one call runs again: after a lost connection, or a rolled-back write."""

    __slots__ = ("attempts", "reconnects")

    def __init__(self) -> None:
        self.attempts = 0
        self.reconnects = 0

    def after_lost_connection(self) -> bool:
        """Count a call that lost its connection; whether to run it again."""
        self.reconnects += 1
        return self.reconnects <= _RECONNECTS

    async def after_failure(self, write: bool, error: BaseException | None) -> bool:
        """Count a failed attempt; wait and return true if the call should run again."""
        self.attempts += 1
        if not write or self.attempts == _ATTEMPTS or not _rolled_back(error):
            return False
        await _back_off(self.attempts)
        return True


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


async def _insert_returning(
    conn: AsyncConnection, plan: Plan, rows: list[dict[str, Any]]
) -> list[Any]:
    """Insert message rows in chunks, skipping taken ids; return ``(seq, mid)`` of those added."""
    inserted: list[Any] = []
    for chunk in _chunks(rows, MAX_PARAMS // plan.msg_params):
        inserted.extend(await conn.execute(plan.insert_msgs_returning, chunk))
    return inserted


async def _insert_marks(conn: AsyncConnection, plan: Plan, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows, MAX_PARAMS // plan.mark_params):
        await conn.execute(plan.insert_marks, chunk)


def _check_no_nul(values: Iterable[str], arg: str) -> None:
    for value in values:
        if "\x00" in value:
            raise ValueError(
                f"{arg}: PostgreSQL text cannot hold NUL (\\x00), so it cannot be in an id "
                f"or a mark here (got {value!r:.60})"
            )


class AsyncSQLAlchemyMemory(StoreBackedMemory):
    r"""Messages and marks of one ``(user_id, session_id)`` in a SQL database.

    Works on PostgreSQL (asyncpg), SQLite (aiosqlite, file or ``:memory:``
    with a ``StaticPool``) and MariaDB >= 10.5 (asyncmy). The tables
    (``{table_prefix}session``, ``message``, ``mark``) are created on first
    use, once per engine and prefix; :func:`memmark.sql.make_metadata` gives
    them to Alembic.

    Given an ``AsyncEngine``, each call checks a connection out of the
    engine's pool for one transaction and returns it; parallel calls run in
    parallel. Given an ``AsyncSession`` (the FastAPI pattern: one session per
    request), calls take turns on that session, and each write commits it.
    When the caller already had a transaction open in the session, the write
    runs in a savepoint, so a failed write undoes only itself. The memory
    never closes or disposes what it was given.

    Args:
        engine_or_session: An ``AsyncEngine`` or an ``AsyncSession``.
        session_id: The session's id; ``None`` means ``"default_session"``.
        user_id: The user's id; ``None`` means ``"default_user"``.
        table_prefix: Put before the table names.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: On PostgreSQL, an id holds NUL (``\x00``).
    """

    def __init__(
        self,
        engine_or_session: AsyncEngine | AsyncSession,
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        table_prefix: str = DEFAULT_PREFIX,
    ) -> None:
        session_id = "default_session" if session_id is None else session_id
        user_id = "default_user" if user_id is None else user_id
        super().__init__(session_id, user_id)
        if not isinstance(table_prefix, str):
            raise TypeError(f"table_prefix: expected a str, got {type(table_prefix).__name__}")

        self._engine: AsyncEngine | None = None
        self._session: AsyncSession | None = None
        if isinstance(engine_or_session, AsyncEngine):
            self._engine = engine_or_session
            sync: Engine = engine_or_session.sync_engine
        elif isinstance(engine_or_session, AsyncSession):
            self._session = engine_or_session
            bind = engine_or_session.get_bind()
            sync = bind.engine if isinstance(bind, Connection) else bind
        else:
            raise TypeError(
                "engine_or_session: expected an AsyncEngine or an AsyncSession, "
                f"got {type(engine_or_session).__name__}"
            )
        self._pg = sync.dialect.name == "postgresql"
        # aiosqlite runs SQLite in a thread. A call cancelled mid-transaction
        # makes SQLAlchemy terminate its connection, which on aiosqlite stops
        # the thread without closing the database: the open transaction keeps
        # the write lock and every later write fails "database is locked".
        # So on SQLite a call runs to its end, and a cancellation takes effect
        # then (the call is local and short).
        self._finish_first = sync.dialect.name == "sqlite"
        # Engine mode on PostgreSQL runs the hot calls on asyncpg directly
        # (see _run_raw); with a session, the caller's transaction decides.
        self._raw = self._pg and self._engine is not None
        if self._pg:
            _check_no_nul([user_id], "user_id")
            _check_no_nul([session_id], "session_id")

        self.table_prefix = table_prefix
        self._sid = pair_digest(user_id, session_id)
        self._state = _engine_state(sync)
        self._plan: Plan | None = self._state.plans.get(table_prefix)

    # -- plumbing ---------------------------------------------------------------

    async def _ready(self) -> Plan:
        """Return the statements, creating the tables first if this engine has not."""
        state = self._state
        plan = state.plans.get(self.table_prefix)
        if plan is None:
            async with state.ddl_lock:
                plan = state.plans.get(self.table_prefix)
                if plan is None:
                    plan = await self._create_tables()
                    state.plans[self.table_prefix] = plan
        self._plan = plan
        return plan

    async def _create_tables(self) -> Plan:
        tables = make_tables(self.table_prefix)
        engine = self._engine
        if engine is None:
            assert self._session is not None
            bind = self._session.bind
            if isinstance(bind, AsyncEngine):
                engine = bind
        if engine is None:
            # A session bound to a connection: create the tables on it.
            conn = await cast(AsyncSession, self._session).connection()
            await conn.run_sync(tables.metadata.create_all)
            return Plan(tables, conn.dialect)
        for attempt in range(_ATTEMPTS):
            try:
                # Its own connection and transaction: never inside the caller's
                # transaction (MySQL commits implicitly around DDL).
                async with engine.begin() as conn:
                    await conn.run_sync(tables.metadata.create_all)
                break
            except DBAPIError:
                # Another process created them at the same moment; the next
                # look (checkfirst) sees them.
                if attempt == _ATTEMPTS - 1:
                    raise
        return Plan(tables, engine.dialect)

    @contextlib.asynccontextmanager
    async def _session_tx(
        self, session: AsyncSession, write: bool
    ) -> AsyncIterator[AsyncConnection]:
        if not write:
            yield await session.connection()
            return
        if session.in_transaction():
            # The caller's own work is pending: undo only ours on failure.
            async with session.begin_nested():
                yield await session.connection()
            await session.commit()
            return
        try:
            yield await session.connection()
        except BaseException:
            await session.rollback()
            raise
        await session.commit()

    async def _run(self, op: _Op[_T], *, write: bool, single: bool = False) -> _T:
        """Run ``op`` in one transaction (or one autocommit statement when ``single``).

        Args:
            op: The work, given a connection and the statements.
            write: Whether ``op`` writes (commit it; retry a deadlock).
            single: ``op`` runs exactly one statement, atomic on its own.
        """
        if self._finish_first:
            return await _finish_on_cancel(self._run_now(op, write, single))
        return await self._run_now(op, write, single)

    async def _run_now(self, op: _Op[_T], write: bool, single: bool) -> _T:
        session = self._session
        if session is not None:
            lock = _SESSION_LOCKS.get(session)
            if lock is None:
                lock = _SESSION_LOCKS[session] = asyncio.Lock()
            async with lock:
                plan = self._plan or await self._ready()
                async with self._session_tx(session, write) as conn:
                    return await op(conn, plan)
        engine = cast(AsyncEngine, self._engine)
        lock = self._state.lock
        async with lock if lock is not None else contextlib.nullcontext():
            plan = self._plan or await self._ready()
            retries = _Retries()
            while True:
                try:
                    if single and plan.autocommit:
                        async with engine.connect() as conn:
                            await conn.execution_options(isolation_level="AUTOCOMMIT")
                            return await op(conn, plan)
                    if write:
                        async with engine.begin() as conn:
                            return await op(conn, plan)
                    async with engine.connect() as conn:
                        return await op(conn, plan)
                except DBAPIError as exc:
                    # SQLAlchemy flags a lost connection and invalidates the
                    # pool's older connections with it, so one retry gets a
                    # fresh one.
                    if exc.connection_invalidated and retries.after_lost_connection():
                        continue
                    if not await retries.after_failure(write, exc.orig):
                        raise

    async def _run_raw(self, op: _RawOp[_T], *, write: bool, tx: bool) -> _T:
        """Run ``op`` on the asyncpg connection under a pooled SQLAlchemy one.

        The pool still checks the connection out and takes it back (or drops
        it when a call was interrupted), but statements skip SQLAlchemy's
        execute path, and asyncpg reuses each prepared statement.

        Args:
            op: The work, given the asyncpg connection and the SQL text.
            write: Whether ``op`` writes (retry a deadlock).
            tx: Run ``op`` in a transaction; otherwise it runs one statement,
                atomic on its own, with no BEGIN/COMMIT round trips.
        """
        engine = cast(AsyncEngine, self._engine)
        lock = self._state.lock
        async with lock if lock is not None else contextlib.nullcontext():
            plan = self._plan or await self._ready()
            sql = cast(PgSQL, plan.pg_sql)
            retries = _Retries()
            while True:
                fairy, conn = await self._raw_checkout(engine)
                reusable = False
                try:
                    if conn.is_in_transaction():
                        # A pool "connect" hook ran a statement through the
                        # DBAPI cursor, which opened a transaction the pool
                        # would roll back on return, with our writes in it.
                        # Commit it first, as a Core write would have.
                        await greenlet_spawn(cast(Any, fairy.dbapi_connection).commit)
                    if tx:
                        # asyncpg rolls back on any exception, cancellation too.
                        async with conn.transaction():
                            result = await op(conn, sql)
                    else:
                        result = await op(conn, sql)
                    reusable = True
                    return result
                except Exception as exc:
                    if conn.is_closed():
                        # The connection was lost under the call (asyncpg
                        # raises ConnectionDoesNotExistError, InterfaceError
                        # or InternalClientError for it): run it again on
                        # another (see _RECONNECTS).
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

    @staticmethod
    async def _raw_checkout(engine: AsyncEngine) -> tuple[PoolProxiedConnection, Any]:
        """Check out a pooled connection whose asyncpg connection is still open.

        asyncpg marks a connection closed as soon as the event loop sees the
        server hang up, so connections the server dropped while they sat in
        the pool are found here and replaced, without a failed call.
        """
        for _ in range(_MAX_DEAD_CHECKOUTS):
            fairy = await engine.raw_connection()
            conn: Any = fairy.driver_connection
            if not conn.is_closed():
                return fairy, conn
            await _give_back(fairy, reusable=False)
        raise ConnectionError("every pooled connection to the database was closed")

    def _decode(self, plan: Plan, body: Any) -> Any:
        return body if plan.json_decoded else _loads(body)

    # -- writes -----------------------------------------------------------------

    async def _add(self, msgs: list[Msg], marks: list[str], skip_duplicated: bool) -> None:
        """Append messages with their marks; see :meth:`MemoryBase.add`.

        One transaction: the messages in one ``INSERT`` per chunk that skips
        ids already taken (the unique key decides, not a read), then the
        marks of exactly the messages inserted (``RETURNING``).

        Raises:
            DuplicateMessageError: ``skip_duplicated`` is false and an id is
                taken; nothing is written.
            ValueError: On PostgreSQL, an id or a mark holds NUL.
        """
        sid = self._sid
        # Encoded now, so later changes to the caller's Msg never reach the store.
        mids: list[bytes] = []
        msg_ids: list[str] = []
        bodies: list[str] = []
        seen: set[str] = set()
        for m in msgs:
            msg_id = m.id
            if msg_id in seen:
                continue  # the first of an id in the call wins
            seen.add(msg_id)
            mids.append(id_digest(msg_id))
            msg_ids.append(msg_id)
            bodies.append(_dumps(m.to_dict()))
        if self._pg:
            _check_no_nul(seen, "memories")
            _check_no_nul(marks, "marks")
            await self._add_arrays(mids, msg_ids, bodies, marks, skip_duplicated)
            return
        rows: list[dict[str, Any]] = [
            {"sid": sid, "mid": mid, "msg_id": msg_id, "msg": body}
            for mid, msg_id, body in zip(mids, msg_ids, bodies, strict=True)
        ]
        mark_keys = [(id_digest(k), k) for k in marks]
        returning = bool(mark_keys) or not skip_duplicated

        async def op(conn: AsyncConnection, plan: Plan) -> None:
            per_chunk = MAX_PARAMS // plan.msg_params
            if not returning:
                for chunk in _chunks(rows, per_chunk):
                    await conn.execute(plan.insert_msgs, chunk)
                return
            inserted = await _insert_returning(conn, plan, rows)
            if not skip_duplicated and len(inserted) < len(rows):
                got = {mid for _, mid in inserted}
                # Raising rolls the transaction back: nothing of the call stays.
                raise DuplicateMessageError([r["msg_id"] for r in rows if r["mid"] not in got])
            if not mark_keys or not inserted:
                return
            mark_rows = [
                {"sid": sid, "mid": mid, "mk": mk, "mark": text, "seq": seq}
                for seq, mid in inserted
                for mk, text in mark_keys
            ]
            await _insert_marks(conn, plan, mark_rows)

        await self._run(op, write=True, single=len(rows) == 1 and not mark_keys)

    async def _add_arrays(
        self,
        mids: list[bytes],
        msg_ids: list[str],
        bodies: list[str],
        marks: list[str],
        skip_duplicated: bool,
    ) -> None:
        """PostgreSQL's add: one statement per chunk of rows (see ``PgSQL.add``)."""
        sid = self._sid
        mks = [id_digest(k) for k in marks]
        starts = range(0, len(mids), ARRAY_ROWS)

        def args(start: int) -> tuple[Any, ...]:
            end = start + ARRAY_ROWS
            return (sid, mids[start:end], msg_ids[start:end], bodies[start:end], mks, marks)

        def check(got: set[bytes]) -> None:
            if not skip_duplicated and len(got) < len(mids):
                # Raising rolls the transaction back: nothing of the call stays.
                raise DuplicateMessageError(
                    [i for mid, i in zip(mids, msg_ids, strict=True) if mid not in got]
                )

        # One chunk is one statement, atomic on its own, except that a refused
        # duplicate must undo it: then, and for several chunks, a transaction.
        tx = len(starts) > 1 or not skip_duplicated
        if self._raw:

            async def raw_op(conn: Any, sql: PgSQL) -> None:
                got: set[bytes] = set()
                for start in starts:
                    got.update(r[0] for r in await conn.fetch(sql.add, *args(start)))
                check(got)

            await self._run_raw(raw_op, write=True, tx=tx)
            return

        async def op(conn: AsyncConnection, plan: Plan) -> None:
            sql = cast(PgSQL, plan.pg_sql)
            got: set[bytes] = set()
            for start in starts:
                got.update((await conn.exec_driver_sql(sql.add, args(start))).scalars())
            check(got)

        await self._run(op, write=True, single=not tx)

    async def _delete_ids(self, conn: AsyncConnection, plan: Plan, mids: Sequence[bytes]) -> int:
        """Delete the messages ``mids``, then the marks of those removed; return how many."""
        gone: list[bytes] = []
        for chunk in _chunks(mids, MAX_IN):
            result = await conn.execute(plan.delete_msgs_by_id, {"sid": self._sid, "mids": chunk})
            gone.extend(result.scalars())
        await self._delete_marks_of(conn, plan, gone)
        return len(gone)

    async def _delete_marks_of(self, conn: AsyncConnection, plan: Plan, gone: list[bytes]) -> None:
        for chunk in _chunks(gone, MAX_IN):
            await conn.execute(plan.delete_marks_of, {"sid": self._sid, "mids": chunk})

    def _raw_delete(self, keys: list[bytes], *, by_mark: bool) -> _RawOp[int]:
        """Return the asyncpg-path work of a delete: one query, its own transaction."""

        async def op(conn: Any, sql: PgSQL) -> int:
            tag: str = await conn.execute(sql.delete_script(self._sid, keys, by_mark=by_mark))
            return int(tag.rsplit(" ", 1)[1])  # "SELECT n": one row per message removed

        return op

    async def _delete(self, ids: list[str]) -> int:
        """Remove messages by id, with their marks; see :meth:`MemoryBase.delete`."""
        mids = [id_digest(i) for i in ids]
        if self._raw:
            return await self._run_raw(self._raw_delete(mids, by_mark=False), write=True, tx=False)

        async def op(conn: AsyncConnection, plan: Plan) -> int:
            return await self._delete_ids(conn, plan, mids)

        return await self._run(op, write=True)

    async def _delete_by_mark(self, marks: list[str]) -> int:
        """Remove every message carrying any of the marks; returns how many."""
        mks = [id_digest(k) for k in marks]
        sid = self._sid
        if self._raw:
            return await self._run_raw(self._raw_delete(mks, by_mark=True), write=True, tx=False)

        async def op(conn: AsyncConnection, plan: Plan) -> int:
            if plan.mysql:
                carriers: list[bytes] = []
                for chunk in _chunks(mks, MAX_IN):
                    result = await conn.execute(plan.mids_with_marks, {"sid": sid, "mks": chunk})
                    carriers.extend(result.scalars())
                return await self._delete_ids(conn, plan, sorted(set(carriers)))
            gone: list[bytes] = []
            for chunk in _chunks(mks, MAX_IN):
                result = await conn.execute(plan.delete_msgs_by_mark, {"sid": sid, "mks": chunk})
                gone.extend(result.scalars())
            await self._delete_marks_of(conn, plan, gone)
            return len(gone)

        return await self._run(op, write=True)

    async def _clear(self) -> None:
        """Remove every message and mark of the session; the summary stays."""

        async def op(conn: AsyncConnection, plan: Plan) -> None:
            await self._clear_in(conn, plan)

        await self._run(op, write=True)

    async def _clear_in(self, conn: AsyncConnection, plan: Plan) -> None:
        params = {"sid": self._sid}
        await conn.execute(plan.clear_msgs, params)
        await conn.execute(plan.clear_marks, params)

    def _summary_row(self, summary: str) -> dict[str, Any]:
        return {
            "sid": self._sid,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "summary": _dumps(summary),
        }

    async def _update_messages_mark(
        self, new_mark: str | None, old_mark: str | None, msg_ids: list[str] | None
    ) -> int:
        """Re-mark messages; see :meth:`MemoryBase.update_messages_mark`.

        Set-based: at most two statements per chunk of ids, never one per message.
        """
        ids = msg_ids
        if self._pg and new_mark is not None:
            _check_no_nul([new_mark], "new_mark")
        by_ids = ids is not None
        id_chunks: list[Sequence[bytes]] = (
            list(_chunks([id_digest(i) for i in ids], MAX_IN)) if ids is not None else [[]]
        )
        base: dict[str, Any] = {"sid": self._sid}
        if new_mark is not None:
            base["new_mk"] = id_digest(new_mark)
            base["new_mark"] = new_mark
        if old_mark is not None:
            base["old_mk"] = id_digest(old_mark)

        def params(chunk: Sequence[bytes]) -> dict[str, Any]:
            return {**base, "mids": chunk} if by_ids else base

        async def op(conn: AsyncConnection, plan: Plan) -> int:
            changed = 0
            for chunk in id_chunks:
                p = params(chunk)
                if new_mark is not None and old_mark is None:
                    changed += (await conn.execute(plan.add_new[by_ids], p)).rowcount
                elif old_mark is not None:
                    if new_mark is not None:
                        await conn.execute(plan.replace_old[by_ids], p)
                    # Every carrier of old_mark loses it: that is the change.
                    changed += (await conn.execute(plan.drop_old[by_ids], p)).rowcount
                else:
                    result = await conn.execute(plan.drop_all[by_ids], p)
                    changed += len(set(result.scalars()))
            return changed

        single = len(id_chunks) == 1 and not (new_mark is not None and old_mark is not None)
        return await self._run(op, write=True, single=single)

    async def _update_compressed_summary(self, summary: str) -> None:
        """Store the summary in the database; every handle on the session sees it."""
        row = self._summary_row(summary)

        async def op(conn: AsyncConnection, plan: Plan) -> None:
            await conn.execute(plan.upsert_summary, row)

        await self._run(op, write=True, single=True)

    # -- reads ------------------------------------------------------------------

    async def _size(self) -> int:
        """Return the number of messages in the session."""
        params = {"sid": self._sid}
        if self._raw:

            async def raw_op(conn: Any, sql: PgSQL) -> int:
                return int(await conn.fetchval(sql.size, self._sid))

            return await self._run_raw(raw_op, write=False, tx=False)

        async def op(conn: AsyncConnection, plan: Plan) -> int:
            return int((await conn.execute(plan.size, params)).scalar_one())

        return await self._run(op, write=False, single=True)

    async def _get_memory(
        self, mark: str | None, exclude_mark: str | None, limit: int | None, with_summary: bool
    ) -> tuple[list[Msg], str | None]:
        """Return messages in insertion order, and the summary; see :meth:`MemoryBase.get_memory`.

        One statement: with the summary, it comes in the same read (a
        ``UNION ALL``), so the result is one consistent snapshot.
        """
        if limit == 0 and not with_summary:
            return [], None
        params: dict[str, Any] = {"sid": self._sid}
        if mark is not None:
            params["mk"] = id_digest(mark)
        if exclude_mark is not None:
            params["xmk"] = id_digest(exclude_mark)
        if limit is not None:
            params["lim"] = limit
        with_limit = limit is not None
        has_mark, has_exclude = mark is not None, exclude_mark is not None

        summary_body: Any = None
        if self._raw:
            key = ReadKey(has_mark, has_exclude, with_limit, with_summary)
            args = list(params.values())  # sid, mk, xmk, lim: the text's order

            async def raw_op(conn: Any, sql: PgSQL) -> list[Any]:
                return cast("list[Any]", await conn.fetch(sql.read(key), *args))

            # Ordered by the database, the summary (seq 0) first.
            rows = await self._run_raw(raw_op, write=False, tx=False)
            if with_summary and rows and rows[0][1] == 0:
                summary_body = rows[0][0]
                rows = rows[1:]
            decoded = False
        else:

            async def op(conn: AsyncConnection, plan: Plan) -> list[Any]:
                stmt = plan.read(has_mark, has_exclude, with_limit, with_summary)
                return list((await conn.execute(stmt, params)).all())

            rows = await self._run(op, write=False, single=True)
            if with_summary:
                rows.sort(key=_by_seq)  # a UNION has no order; seq 0 is the summary
                if rows and rows[0][1] == 0:
                    summary_body = rows[0][0]
                    rows = rows[1:]
            elif with_limit:
                rows.reverse()  # read newest first to apply the limit
            # PostgreSQL's driver decodes json columns itself.
            decoded = cast(Plan, self._plan).json_decoded
        bodies = [body for body, _ in rows]
        result = _to_msgs(bodies if decoded else _loads_many(bodies))
        if summary_body is None:
            return result, None
        return result, summary_body if decoded else _loads(summary_body)

    # -- state ------------------------------------------------------------------

    async def _export_state(self) -> tuple[StateContent, str]:
        """Return every message with its marks, and the summary; see :meth:`export_state`.

        Read in one statement, so it is one consistent snapshot.
        """
        params = {"sid": self._sid}

        async def op(conn: AsyncConnection, plan: Plan) -> list[Any]:
            return list((await conn.execute(plan.export, params)).all())

        rows = await self._run(op, write=False, single=True)
        plan = cast(Plan, self._plan)
        rows.sort(key=itemgetter(0))
        content: StateContent = []
        summary = ""
        last_seq = None
        for seq, body, mark in rows:
            if seq == 0:
                summary = self._decode(plan, body)
                continue
            if seq != last_seq:
                last_seq = seq
                data = self._decode(plan, body)
                content.append((Msg.from_dict(data).to_dict(), []))
            if mark is not None:
                content[-1][1].append(mark)
        return content, summary

    async def _import_state(self, content: list[tuple[Msg, list[str]]], summary: str) -> None:
        """Replace the session with ``content`` and ``summary`` in one transaction.

        Raises:
            ValueError: On PostgreSQL, an id or a mark holds NUL; the session
                is left as it was.
        """
        if self._pg:
            _check_no_nul((m.id for m, _ in content), "state")
            _check_no_nul((k for _, marks in content for k in marks), "state")
        sid = self._sid
        rows = [
            {"sid": sid, "mid": id_digest(m.id), "msg_id": m.id, "msg": _dumps(m.to_dict())}
            for m, _ in content
        ]
        marks_of = {row["mid"]: marks for row, (_, marks) in zip(rows, content, strict=True)}
        summary_row = self._summary_row(summary)

        async def op(conn: AsyncConnection, plan: Plan) -> None:
            await self._clear_in(conn, plan)
            inserted = await _insert_returning(conn, plan, rows)
            mark_rows = [
                {"sid": sid, "mid": mid, "mk": id_digest(k), "mark": k, "seq": seq}
                for seq, mid in inserted
                for k in marks_of[mid]
            ]
            await _insert_marks(conn, plan, mark_rows)
            await conn.execute(plan.upsert_summary, summary_row)

        await self._run(op, write=True)

    # -- lifetime ---------------------------------------------------------------

    async def close(self) -> None:
        """Release what the memory owns: nothing beyond the call in progress.

        Connections go back to the pool at the end of every call, and the
        engine or session given to the constructor is the caller's to close.
        Closing twice is harmless, and a closed memory stays usable.
        """

    def __repr__(self) -> str:
        return (
            f"AsyncSQLAlchemyMemory(user_id={self.user_id!r}, session_id={self.session_id!r}, "
            f"table_prefix={self.table_prefix!r})"
        )
