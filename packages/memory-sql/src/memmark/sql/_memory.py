"""The memory on a SQL database, through async SQLAlchemy Core.

Each hook encodes its arguments, hands one piece of work from
:mod:`memmark.sql._operations` to the :class:`~memmark.sql._connection.Connector`,
and decodes what comes back. Which work runs is decided here: PostgreSQL's
SQL text for its hot calls, Core statements for the rest and the other
databases.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from memmark.core import Msg, SessionInfo, StateContent, StoreBackedMemory
from memmark.core.cache import MessageCache, Snapshot, chosen_cache
from memmark.core.sessions import SessionKey, select
from memmark.core.urls import OpenedByUrl
from memmark.sql import _operations as ops
from memmark.sql._batch import check_no_nul
from memmark.sql._batch_hooks import BatchHooks
from memmark.sql._codec import (
    decode_export,
    decode_messages,
    decode_read,
    dumps,
    loads,
)
from memmark.sql._connection import Connector
from memmark.sql._mysql import check_text_fits, row_sizes
from memmark.sql._open import open_memory
from memmark.sql._postgres import ARRAY_ROWS
from memmark.sql._schema import DEFAULT_PREFIX, id_digest, pair_digest
from memmark.sql._statements import ReadKey


class AsyncSQLAlchemyMemory(BatchHooks, StoreBackedMemory, OpenedByUrl, opener=open_memory):
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

    ``AsyncSQLAlchemyMemory.from_url(url, user_id=..., session_id=..., **options)``
    opens one on the engine every memory of that URL and those options
    shares in the process (the one :func:`memmark.core.connect` uses), for
    ``sqlite+aiosqlite:///path``, ``postgresql+asyncpg://…`` or
    ``mysql+asyncmy://…`` (plain ``sqlite://``, ``postgresql://``,
    ``mysql://``, ``mariadb://`` pick these drivers); ``options`` are
    ``table_prefix``, ``message_cache``, ``connect_timeout``,
    ``command_timeout`` and options of ``create_async_engine``. Closing it
    leaves the engine open (:func:`memmark.core.urls.close_shared` disposes it).

    Args:
        engine_or_session: An ``AsyncEngine`` or an ``AsyncSession``.
        session_id: The session's id; ``None`` means ``"default_session"``.
        user_id: The user's id; ``None`` means ``"default_user"``.
        table_prefix: Put before the table names.
        message_cache: Where decoded sessions are kept between calls:
            ``True`` (the default) for the process-wide
            :data:`memmark.core.cache.SHARED_CACHE`, a
            :class:`~memmark.core.cache.MessageCache` of your own, or
            ``False`` for none. A read of a session whose version this
            process holds then reads only the session's row. The messages
            handed out are shared with the cache: treat them as read-only.

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
        message_cache: MessageCache | bool = True,
    ) -> None:
        session_id = "default_session" if session_id is None else session_id
        user_id = "default_user" if user_id is None else user_id
        super().__init__(session_id, user_id)
        if not isinstance(table_prefix, str):
            raise TypeError(f"table_prefix: expected a str, got {type(table_prefix).__name__}")
        self._sid = pair_digest(user_id, session_id)
        self._link = Connector(
            engine_or_session, table_prefix, self._sid, (self.user_id, self.session_id)
        )
        self._pg = self._link.postgres
        if self._pg:
            check_no_nul([user_id], "user_id")
            check_no_nul([session_id], "session_id")
        self.table_prefix = table_prefix
        self._cache = chosen_cache(message_cache)
        self._cache_key = (*self._link.cache_scope, self._sid)

    # -- writes -----------------------------------------------------------------

    async def _add(self, msgs: list[Msg], marks: list[str], skip_duplicated: bool) -> None:
        """Append messages with their marks, in one transaction.

        The messages go in one ``INSERT`` per chunk that skips ids already
        taken (the unique key decides, not a read), then the marks of
        exactly the messages inserted (``RETURNING``).
        """
        # Encoded now, so later changes to the caller's Msg never reach the store.
        batch = ops.Batch(self._sid, [], [], [], marks, skip_duplicated)
        seen: set[str] = set()
        for msg in msgs:
            if msg.id in seen:
                continue  # the first of an id in the call wins
            seen.add(msg.id)
            batch.mids.append(id_digest(msg.id))
            batch.msg_ids.append(msg.id)
            batch.bodies.append(dumps(msg.to_dict()))
        if self._pg:
            check_no_nul(batch.msg_ids, "memories")
            check_no_nul(marks, "marks")
            held = self._take_cached()
            # One chunk is one statement, atomic on its own, except that a
            # refused duplicate must undo it: then, and for several chunks,
            # a transaction.
            tx = len(batch.mids) > ARRAY_ROWS or not skip_duplicated
            work = partial(ops.add_arrays, batch=batch, session=self._link.bump_args)
            version = await self._link.run_text(work, write=True, tx=tx)
        else:
            max_packet = await self._max_packet()
            if max_packet is not None:
                batch.sizes.extend(row_sizes(max_packet, batch.msg_ids, batch.bodies, "memories"))
            held = self._take_cached()
            _, version = await self._link.run_write(partial(ops.add, batch=batch))
        self._advance(
            held,
            version,
            # The cache's own copies, from the text stored (the caller may
            # change theirs), decoded at the snapshot's first read.
            lambda h, v: h.added(
                v, partial(decode_messages, batch.bodies), marks, sum(map(len, batch.bodies))
            ),
        )

    async def _max_packet(self) -> int | None:
        """The server's largest statement in bytes (MariaDB), known with the tables."""
        statements = self._link.statements or await self._link.ready()
        return statements.max_packet

    async def _delete(self, ids: list[str]) -> int:
        """Remove messages by id, then the marks of those removed."""
        return await self._remove(ids, by_mark=False)

    async def _delete_by_mark(self, marks: list[str]) -> int:
        """Remove every message carrying any of the marks, then their marks."""
        return await self._remove(marks, by_mark=True)

    async def _remove(self, texts: list[str], by_mark: bool) -> int:
        """Remove the messages of the ids ``texts``, or of the marks."""
        keys = [id_digest(text) for text in texts]
        held = self._take_cached()
        if self._link.raw:
            script = partial(
                ops.delete_script,
                sid=self._sid,
                keys=keys,
                by_mark=by_mark,
                session=self._link.bump_args,
            )
            removed, version = await self._link.run_raw(script, write=True, tx=True)
        else:
            work = ops.delete_by_mark if by_mark else ops.delete_ids
            removed, version = await self._link.run_write(partial(work, sid=self._sid, keys=keys))
        if by_mark:
            self._advance(held, version, lambda h, v: h.without_marks(v, texts))
        else:
            self._advance(held, version, lambda h, v: h.without(v, texts))
        return removed

    async def _clear(self) -> None:
        """Remove every message and mark of the session; the summary stays."""
        held = self._take_cached()
        _, version = await self._link.run_write(partial(ops.clear, sid=self._sid))
        self._advance(held, version, lambda h, v: Snapshot(v, {}, {}, 0))

    async def _update_messages_mark(
        self, new_mark: str | None, old_mark: str | None, msg_ids: list[str] | None
    ) -> int:
        """Re-mark messages: at most two statements per chunk of ids."""
        if self._pg and new_mark is not None:
            check_no_nul([new_mark], "new_mark")
        mids = None if msg_ids is None else [id_digest(i) for i in msg_ids]
        work = partial(
            ops.update_marks, sid=self._sid, new_mark=new_mark, old_mark=old_mark, mids=mids
        )
        held = self._take_cached()
        changed, version = await self._link.run_write(work)
        self._advance(held, version, lambda h, v: h.remarked(v, new_mark, old_mark, msg_ids))
        return changed

    def _summary_row(self, summary: str) -> dict[str, Any]:
        return {
            "sid": self._sid,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "summary": dumps(summary),
        }

    async def _update_compressed_summary(self, summary: str) -> None:
        """Store the summary in the database; every handle on the session sees it."""
        row = self._summary_row(summary)
        max_packet = await self._max_packet()
        if max_packet is not None:
            check_text_fits(max_packet, row["summary"], "summary")
        held = self._take_cached()
        _, version = await self._link.run_write(partial(ops.upsert_summary, row=row))
        # The snapshot holds no summary: the same messages at the new version.
        self._advance(held, version, Snapshot.at)

    # -- reads ------------------------------------------------------------------

    async def _size(self) -> int:
        """Return the number of messages in the session.

        Of a session this process holds at the stored version, only the
        session row's version is read.
        """
        held, _ = await self._held(with_summary=False)
        if held is not None:
            return len(held.by_id)
        if self._pg:
            work = partial(ops.size_text, sid=self._sid)
            return await self._link.run_text(work, write=False, tx=False)
        return await self._link.run(partial(ops.size, sid=self._sid), write=False, single=True)

    async def _get_memory(
        self, mark: str | None, exclude_mark: str | None, limit: int | None, with_summary: bool
    ) -> tuple[list[Msg], str | None]:
        """Read the messages, and the summary, in one statement, so one snapshot.

        With ``with_summary`` the summary comes in the same read (a ``UNION
        ALL``).
        """
        if limit == 0 and not with_summary:
            return [], None
        held, summary = await self._held(with_summary)
        if held is not None:
            return held.select(mark, exclude_mark, limit), summary if with_summary else None
        if mark is None and limit is None and self._cache is not None and self._link.cacheable():
            # Only a read of the whole session (less a mark) fills the cache: a
            # mark or a limit read of a session not held reads only its part.
            snapshot, summary = await self._read_snapshot()
            return snapshot.select(None, exclude_mark, None), summary if with_summary else None
        params: dict[str, Any] = {"sid": self._sid}
        if mark is not None:
            params["mk"] = id_digest(mark)
        if exclude_mark is not None:
            params["xmk"] = id_digest(exclude_mark)
        if limit is not None:
            params["lim"] = limit
        key = ReadKey(mark is not None, exclude_mark is not None, limit is not None, with_summary)
        if self._pg:
            # sid, mk, xmk, lim: the order of the text's parameters.
            work = partial(ops.read_text, key=key, args=list(params.values()))
            rows = await self._link.run_text(work, write=False, tx=False)
        else:
            work_core = partial(ops.read, key=key, params=params)
            rows = await self._link.run(work_core, write=False, single=True)
        return decode_read(rows, with_summary)

    # -- the message cache --------------------------------------------------------

    def _take_cached(self) -> Snapshot | None:
        """Remove this session's snapshot from the cache for a write, returning it.

        Only a write that completes puts the next one back, so an error or a
        cancellation mid-call leaves the session uncached.
        """
        if self._cache is None:
            return None
        held = self._cache.take(self._cache_key)
        return held if self._link.cacheable() else None

    def _advance(
        self, held: Snapshot | None, version: int, after: Callable[[Snapshot, int], Snapshot]
    ) -> None:
        """Cache the snapshot after this process's write, when the version shows no other."""
        if held is not None and self._cache is not None and version == held.version + 1:
            self._cache.put(self._cache_key, after(held, version))

    async def _held(self, with_summary: bool) -> tuple[Snapshot | None, str | None]:
        """The snapshot held at the stored version, and the summary; ``None`` if none.

        Reads the session row only (one small statement), and only when a
        snapshot is held; without ``with_summary``, its version alone (a
        summary may be long, and ``size()`` has no use for it).
        """
        cache = self._cache
        if cache is None or not self._link.cacheable():
            return None, None
        held = cache.get(self._cache_key)
        if held is None:
            return None, None
        if not with_summary:
            # 0 without a row: never a held version (only a version is held).
            if await self._version() == held.version:
                return held, None
        else:
            if self._pg:
                work = partial(ops.probe_text, sid=self._sid)
                row = await self._link.run_text(work, write=False, tx=False)
            else:
                probe = partial(ops.probe, sid=self._sid)
                row = await self._link.run(probe, write=False, single=True)
            if row is not None and row[0] == held.version:
                return held, loads(row[1])
        if cache.get(self._cache_key) is held:
            cache.take(self._cache_key)
        return None, None

    async def _read_snapshot(self) -> tuple[Snapshot, str]:
        """Read the whole session in one statement; hold it when it has a version."""
        if self._pg:
            work = partial(ops.snapshot_text, sid=self._sid)
            rows = await self._link.run_text(work, write=False, tx=False)
        else:
            rows = await self._link.run(
                partial(ops.snapshot, sid=self._sid), write=False, single=True
            )
        version, summary = 0, ""
        bodies: list[str] = []
        marks_of: list[list[str]] = []
        last = None
        for seq, body, mark, written in rows:
            if seq == 0:
                version, summary = int(written), loads(body)
                continue
            if seq != last:
                last = seq
                bodies.append(body)
                marks_of.append([])
            if mark is not None:
                marks_of[-1].append(mark)
        msgs = decode_messages(bodies)
        marks = {m.id: frozenset(k) for m, k in zip(msgs, marks_of, strict=True) if k}
        snapshot = Snapshot.of(version, msgs, marks, sum(map(len, bodies)))
        # A session without a row (written by release 0.1) has no version to check.
        if version and self._cache is not None:
            self._cache.put(self._cache_key, snapshot)
        return snapshot, summary

    # -- versions and listing -----------------------------------------------------

    async def _version(self) -> int:
        """Return the session row's version, ``0`` without a row."""
        if self._pg:
            work = partial(ops.version_text, sid=self._sid)
            return await self._link.run_text(work, write=False, tx=False)
        return await self._link.run(partial(ops.version, sid=self._sid), write=False, single=True)

    async def _list_sessions(
        self, all_users: bool, limit: int, after_key: SessionKey | None
    ) -> list[SessionInfo]:
        """Read one page's candidates in one statement; order and cut them here.

        The ids are compared in Python, byte-exactly (by code point, which
        is the order of their UTF-8), as no collation does on every database.
        """
        params: dict[str, Any] = {"off": limit - 1}
        if not all_users:
            params["uid"] = self._link.bump_args[1]
        if after_key is not None:
            params["u"] = after_key[0]
        work = partial(ops.list_sessions, params=params, cursor=after_key is not None)
        rows = await self._link.run(work, write=False, single=True)
        found = [SessionInfo(u, s, int(n), int(v), float(t)) for u, s, n, v, t in rows]
        return select(found, limit, after_key)

    async def _delete_session(self) -> bool:
        """Remove the session's row, messages and marks in one transaction."""
        if self._cache is not None:
            self._cache.take(self._cache_key)
        work = partial(ops.delete_session, sid=self._sid, session=self._link.bump_params)
        return await self._link.run(work, write=True)

    # -- state ------------------------------------------------------------------

    async def _export_state(self) -> tuple[StateContent, str, str | None]:
        """Read the whole session in one statement, so one consistent snapshot."""
        rows = await self._link.run(partial(ops.export, sid=self._sid), write=False, single=True)
        statements = self._link.statements
        assert statements is not None  # the call made them
        return decode_export(rows, statements.json_decoded)

    async def _import_state(
        self, content: list[tuple[Msg, list[str]]], summary: str, session_state: str | None
    ) -> None:
        """Replace the session's messages, marks, summary and state in one transaction."""
        if self._pg:
            check_no_nul((m.id for m, _ in content), "state")
            check_no_nul((k for _, marks in content for k in marks), "state")
        sid = self._sid
        rows: list[dict[str, Any]] = []
        marks_of: dict[bytes, list[tuple[bytes, str]]] = {}
        for msg, marks in content:
            mid = id_digest(msg.id)
            rows.append({"sid": sid, "mid": mid, "msg_id": msg.id, "msg": dumps(msg.to_dict())})
            marks_of[mid] = [(id_digest(k), k) for k in marks]
        summary_row = self._summary_row(summary)
        sizes: list[int] = []
        max_packet = None if self._pg else await self._max_packet()
        if max_packet is not None:
            bodies = [row["msg"] for row in rows]
            sizes = row_sizes(max_packet, [m.id for m, _ in content], bodies, "state")
            check_text_fits(max_packet, summary_row["summary"], "state['_compressed_summary']")
            if session_state is not None:
                check_text_fits(max_packet, session_state, "state['_session_state']")
        work = partial(
            ops.replace,
            rows=rows,
            marks=marks_of,
            summary_row=summary_row,
            sizes=sizes,
            state=session_state,
        )
        self._take_cached()  # an import replaces everything: read it afresh
        await self._link.run_write(work)

    # -- lifetime ---------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"AsyncSQLAlchemyMemory(user_id={self.user_id!r}, session_id={self.session_id!r}, "
            f"table_prefix={self.table_prefix!r})"
        )
