"""The named statements of one prefix, shared by every dialect.

Every statement is Core (no ORM objects on any path), built once per engine
and prefix, so SQLAlchemy's compiled cache hits on every call after the
first, and bound to ``sid``, the digest of the ``(user_id, session_id)``
pair. What differs between databases (how a taken key is skipped, how a
summary is upserted, PostgreSQL's plans that no statistics can spoil,
MariaDB's index hints) lives in one module per dialect: :mod:`._postgres`,
:mod:`._mysql`, :mod:`._sqlite`, each a subclass of :class:`Statements`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.dml import Delete, Insert

from memmark.sql._migrate import upgrade
from memmark.sql._schema import Digest, RawText, Tables

# asyncpg allows 32,767 parameters per statement, SQLite 32,766 (since 3.32);
# stay under both with room for the session key.
MAX_PARAMS = 32_000
# Ids per ``IN (...)`` list, kept well under MAX_PARAMS.
MAX_IN = 5_000
MESSAGE_PARAMS = 4  # parameters per message row: sid, mid, msg_id, msg
MARK_PARAMS = 5  # parameters per mark row: sid, mid, mk, mark, seq

SID = sa.bindparam("sid", type_=Digest)
MIDS = sa.bindparam("mids", expanding=True, type_=Digest)
MKS = sa.bindparam("mks", expanding=True, type_=Digest)
OLD_MK = sa.bindparam("old_mk", type_=Digest)


class UnsupportedDatabaseError(NotImplementedError):
    """The database lacks ``INSERT ... RETURNING``, which the add path relies on."""


@dataclass(frozen=True)
class ReadKey:
    """Which ``get_memory`` arguments are set (each changes the statement)."""

    mark: bool
    exclude: bool
    limit: bool
    summary: bool


@dataclass(frozen=True)
class Remark:
    """The statements of ``update_messages_mark`` over one selection of messages.

    Parameters: ``sid``; ``mids`` when the selection is a list of ids;
    ``new_mk`` and ``new_mark``, ``old_mk``, as each statement needs.

    Attributes:
        add_mark: Give ``new_mark`` to the selected messages that lack it;
            its row count is the number changed.
        copy_mark: Give ``new_mark`` to the selected carriers of ``old_mark``.
        drop_mark: Take ``old_mark`` from the selected messages; its row
            count is the number changed.
        drop_all_marks: Take every mark from the selected messages; returns
            one ``mid`` per mark removed.
    """

    add_mark: sa.Executable
    copy_mark: sa.Executable
    drop_mark: sa.Executable
    drop_all_marks: sa.Executable


class Statements:
    """Ready-made statements for one prefix on one dialect.

    Args:
        tables: The tables of the prefix.
        dialect: The engine's dialect, initialised (connected once), so that
            server-dependent features such as MariaDB's RETURNING are known.
    """

    # One-statement calls may run in autocommit: no BEGIN/COMMIT round trips.
    autocommit: ClassVar[bool] = True
    # Whether the driver hands JSON columns back decoded.
    json_decoded: ClassVar[bool] = False
    # Whether delete_by_mark reads the carriers' ids (locked) before deleting.
    carriers_first: ClassVar[bool] = False
    # The database clock, in seconds since the epoch (a float), and in
    # microseconds (an integer), as SQL: SQLite's here, to the millisecond.
    now_sql: ClassVar[str] = "((julianday('now') - 2440587.5) * 86400.0)"
    now_us_sql: ClassVar[str] = "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
    # The server's largest statement in bytes, where it has one (MariaDB's
    # max_allowed_packet, read with the tables); ``None`` for no limit.
    max_packet: int | None = None

    def read_limits(self, conn: Connection) -> None:
        """Read the server's limits that statements must respect (none here)."""

    def __init__(self, tables: Tables, dialect: Dialect) -> None:
        if not (dialect.insert_executemany_returning and dialect.delete_returning):
            raise UnsupportedDatabaseError(
                f"memmark.sql needs INSERT ... RETURNING and DELETE ... RETURNING, which "
                f"{dialect.name} {dialect.server_version_info} does not have; use PostgreSQL, "
                "SQLite >= 3.35 or MariaDB >= 10.5"
            )
        self.tables = tables
        self.dialect = dialect
        msg, mark, ses = tables.message, tables.mark, tables.session

        # -- add ---------------------------------------------------------------
        self.insert_messages: Insert = self._insert_ignore(msg, ["sid", "mid"])
        self.insert_messages_returning: Insert = self.insert_messages.returning(
            msg.c.seq, msg.c.mid
        )
        self.insert_marks: Insert = sa.insert(mark)

        # -- delete ------------------------------------------------------------
        # Messages go first, then the marks of exactly the messages removed
        # (RETURNING), so a concurrent re-mark that locked a message either
        # finishes first (its marks are then seen and removed) or finds the
        # message gone.
        self.delete_messages_by_id: sa.Executable = (
            sa.delete(msg).where(msg.c.sid == SID, msg.c.mid.in_(MIDS)).returning(msg.c.mid)
        )
        self.delete_messages_by_mark: sa.Executable = (
            sa.delete(msg).where(self._in_session(msg), self._carries_any(msg)).returning(msg.c.mid)
        )
        # The ids of the messages carrying any of ``mks``, locked.
        self.carriers: sa.Executable = (
            sa.select(mark.c.mid)
            .distinct()
            .where(mark.c.sid == SID, mark.c.mk.in_(MKS))
            .with_for_update()
        )
        self.delete_marks_of: Delete = sa.delete(mark).where(
            mark.c.sid == SID, mark.c.mid.in_(MIDS)
        )
        self.clear_messages: Delete = sa.delete(msg).where(msg.c.sid == SID)
        self.clear_marks: Delete = sa.delete(mark).where(mark.c.sid == SID)

        # -- update_messages_mark ---------------------------------------------
        self.remark_session = self._remark(by_ids=False)
        self.remark_ids = self._remark(by_ids=True)

        # -- the session row --------------------------------------------------
        # Run first by every write, in its transaction: makes the session's
        # row or moves its version on, and returns the version. The row it
        # writes stays locked until the commit, so it is also the session's
        # lock: no other write of the session commits between the statements
        # of this one, and each statement after it sees every write
        # committed before (see memmark.sql._postgres). Parameters: sid,
        # uid, user_id, session_id, no_summary.
        self.bump: sa.Executable = self._bump_session(ses)
        self.version: sa.Executable = sa.select(ses.c.version).where(ses.c.sid == SID)
        # What a read of a held session reads: the session row alone.
        self.probe: sa.Executable = sa.select(ses.c.version, ses.c.summary).where(ses.c.sid == SID)
        # Taken by delete_session before the delete (see ops.delete_session);
        # None where the delete itself waits for a write making the row.
        self.lock_session: sa.Executable | None = self._lock_session(ses)
        # The deleted row's version, and the clock (see ops.delete_session).
        self.delete_session_row: sa.Executable = (
            sa.delete(ses)
            .where(ses.c.sid == SID)
            .returning(ses.c.version, sa.literal_column(self.now_us_sql, sa.BigInteger))
        )
        self.clock_us: sa.Executable = sa.select(sa.literal_column(self.now_us_sql, sa.BigInteger))
        self._listings: dict[tuple[bool, bool], sa.Executable] = {}

        # -- summary and reads -------------------------------------------------
        self.upsert_summary: Insert = self._upsert_summary(ses)
        self.size: sa.Executable = (
            sa.select(sa.func.count()).select_from(msg).where(msg.c.sid == SID)
        )
        self._summary_row = sa.select(ses.c.summary, sa.literal_column("0", sa.BigInteger)).where(
            ses.c.sid == SID
        )
        self._reads: dict[ReadKey, sa.Executable] = {}
        # One statement, so the export is one consistent snapshot: the summary
        # and the state slot's text (seq 0), then each message once per mark
        # (or once, unmarked).
        marks_of, mark_column = self._marks_of_messages()
        self.export: sa.Executable = sa.union_all(
            sa.select(
                sa.literal_column("0", sa.BigInteger).label("seq"),
                ses.c.summary.label("body"),
                sa.cast(ses.c.state, sa.Text()).label("mark"),
            ).where(ses.c.sid == SID),
            sa.select(msg.c.seq, msg.c.msg, mark_column)
            .select_from(marks_of)
            .where(msg.c.sid == SID),
        )
        # The whole session as the message cache holds it, in one statement,
        # so one snapshot: the session row (seq 0: summary, version), then
        # each message once per mark (or once, unmarked).
        no_version = sa.cast(sa.null(), sa.BigInteger)
        self.snapshot: sa.Executable = sa.union_all(
            sa.select(
                sa.literal_column("0", sa.BigInteger).label("seq"),
                ses.c.summary.label("body"),
                sa.cast(sa.null(), RawText).label("mark"),
                ses.c.version.label("version"),
            ).where(ses.c.sid == SID),
            sa.select(msg.c.seq, msg.c.msg, mark_column, no_version)
            .select_from(marks_of)
            .where(msg.c.sid == SID),
        )
        # Batches, pages, reads by id, the state slot.
        from memmark.sql._batch_statements import BatchStatements  # it builds on this module

        self.v2 = BatchStatements(self)

    # -- what each dialect decides ------------------------------------------------

    def _on_conflict_insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT into ``table`` that takes ``ON CONFLICT`` clauses."""
        raise NotImplementedError

    def _insert_ignore(self, table: sa.Table, keys: list[str]) -> Insert:
        """An INSERT that skips rows whose ``keys`` are taken (and no other error)."""
        insert = self._on_conflict_insert(table)
        return cast(Insert, insert.on_conflict_do_nothing(index_elements=keys))

    def _upsert_summary(self, session: sa.Table) -> Insert:
        """An INSERT of the session row that replaces the summary of one already there."""
        insert = self._on_conflict_insert(session)
        return cast(
            Insert,
            insert.on_conflict_do_update(
                index_elements=["sid"], set_={"summary": insert.excluded.summary}
            ),
        )

    def _new_session_row(self) -> dict[str, Any]:
        """The values of a session row made by a write (no summary, a fresh version)."""
        ses = self.tables.session
        return {
            "sid": SID,
            "uid": sa.bindparam("uid", type_=Digest),
            "user_id": sa.bindparam("user_id", type_=RawText),
            "session_id": sa.bindparam("session_id", type_=RawText),
            "summary": sa.bindparam("no_summary", type_=ses.c.summary.type),
            "version": sa.literal_column(self.now_us_sql, sa.BigInteger),
            "updated_at": sa.literal_column(self.now_sql, sa.Double),
        }

    def _lock_session(self, session: sa.Table) -> sa.Executable | None:
        """The statement that locks the session's row, made or not, for ``delete_session``.

        ``None``: SQLite locks the database for a write, and MariaDB's
        delete of a row another write is inserting waits for that write.
        """
        return None

    def _bump_session(self, session: sa.Table) -> sa.Executable:
        """The upsert of the session row that moves its version on, returning it."""
        insert = self._on_conflict_insert(session).values(self._new_session_row())
        return cast(
            sa.Executable,
            insert.on_conflict_do_update(
                index_elements=["sid"],
                set_={
                    "version": session.c.version + 1,
                    "updated_at": insert.excluded.updated_at,
                    # A row of an earlier release lacks it (see _migrate).
                    "uid": insert.excluded.uid,
                },
            ).returning(session.c.version),
        )

    def listing(self, by_user: bool, cursor: bool) -> sa.Executable:
        """Return the statement of one listing page's candidates.

        Rows are ``(user_id, session_id, size, version, updated_at)``, in no
        order: the sessions written at the cursor's ``updated_at`` (parameter
        ``u``), all of them, as ids decide which come after the cursor; and
        of those written before it, the ``off + 1`` newest, and any written at
        the same moment as the last of them. The caller sorts the ids
        byte-exactly (no collation of any database does on every one) and
        cuts the page. Parameters: ``off``; ``uid`` when ``by_user``; ``u``
        when ``cursor``.
        """
        key = (by_user, cursor)
        stmt = self._listings.get(key)
        if stmt is None:
            stmt = self._listings[key] = self._build_listing(by_user, cursor)
        return stmt

    def _build_listing(self, by_user: bool, cursor: bool) -> sa.Executable:
        ses, msg = self.tables.session, self.tables.message
        mine = [ses.c.uid == sa.bindparam("uid", type_=Digest)] if by_user else []
        older = list(mine)
        at = sa.bindparam("u", type_=sa.Double)
        if cursor:
            older.append(ses.c.updated_at < at)
        # The (off + 1)-th newest write: every session from it on is a candidate.
        edge = (
            sa.select(ses.c.updated_at)
            .where(*older)
            .order_by(ses.c.updated_at.desc())
            .limit(1)
            .offset(sa.bindparam("off", type_=sa.Integer))
            .scalar_subquery()
        )
        window: sa.ColumnElement[bool] = ses.c.updated_at >= sa.func.coalesce(edge, -1.0)
        if cursor:
            window = sa.or_(ses.c.updated_at == at, sa.and_(ses.c.updated_at < at, window))
        size = (
            sa.select(sa.func.count())
            .select_from(msg)
            .where(msg.c.sid == ses.c.sid)
            .correlate(ses)
            .scalar_subquery()
        )
        return sa.select(
            ses.c.user_id, ses.c.session_id, size, ses.c.version, ses.c.updated_at
        ).where(*mine, window)

    def _in_session(self, table: sa.Table) -> sa.ColumnElement[bool]:
        """The condition that a row of ``table`` belongs to the session."""
        return table.c.sid == SID

    def _carries_any(self, msg: sa.Table) -> sa.ColumnElement[bool]:
        """The condition that a message carries any of the marks ``mks``."""
        mark = self.tables.mark
        return msg.c.mid.in_(sa.select(mark.c.mid).where(mark.c.sid == SID, mark.c.mk.in_(MKS)))

    def _param(self, name: str, type_: Any) -> Any:
        """A parameter whose value is selected, as in ``INSERT ... SELECT :p``."""
        return sa.bindparam(name, type_=type_)

    def _lacks_mark(self, row: sa.FromClause, mk: Any, mark: sa.FromClause) -> Any:
        """True where the message of ``row`` lacks the mark digest ``mk`` in ``mark``."""
        has = (
            sa.select(sa.literal_column("1"))
            .where(mark.c.sid == row.c.sid, mark.c.mid == row.c.mid, mark.c.mk == mk)
            .exists()
        )
        return ~has

    def _carriers_of_old(self, new_mk: Any, new_mark: Any, by_ids: bool) -> sa.Select[Any]:
        """Mark rows ``(sid, mid, new_mk, new_mark, seq)`` for the carriers of ``old_mk``."""
        msg, mark = self.tables.message, self.tables.mark
        joined = mark.join(msg, sa.and_(msg.c.sid == mark.c.sid, msg.c.mid == mark.c.mid))
        src = (
            sa.select(mark.c.sid, mark.c.mid, new_mk, new_mark, mark.c.seq)
            .select_from(joined)
            .where(mark.c.sid == SID, mark.c.mk == OLD_MK)
        )
        return src.where(mark.c.mid.in_(MIDS)) if by_ids else src

    def _lock_messages_read(self, src: sa.Select[Any]) -> sa.Select[Any]:
        """``src`` with the message rows it reads locked against a delete, where needed."""
        # InnoDB and SQLite already hold what an INSERT ... SELECT reads.
        return src

    def _drop_mark_of_session(self) -> sa.Executable:
        """The delete of ``old_mk`` from every message of the session."""
        mark = self.tables.mark
        return sa.delete(mark).where(mark.c.sid == SID, mark.c.mk == OLD_MK)

    def _marks_of_messages(self) -> tuple[sa.FromClause, sa.ColumnElement[Any]]:
        """The messages outer-joined to their marks, and the mark text column."""
        msg, mark = self.tables.message, self.tables.mark
        joined = sa.outerjoin(msg, mark, sa.and_(mark.c.sid == msg.c.sid, mark.c.mid == msg.c.mid))
        return joined, mark.c.mark

    # -- builders ---------------------------------------------------------------

    def _remark(self, by_ids: bool) -> Remark:
        msg, mark = self.tables.message, self.tables.mark
        new_mk = self._param("new_mk", Digest)
        new_mark = self._param("new_mark", RawText)
        lacks_new = self._lacks_mark(msg, new_mk, mark)
        to_all = sa.select(msg.c.sid, msg.c.mid, new_mk, new_mark, msg.c.seq).where(
            msg.c.sid == SID, lacks_new
        )
        if by_ids:
            to_all = to_all.where(msg.c.mid.in_(MIDS))
            drop: sa.Executable = sa.delete(mark).where(
                mark.c.sid == SID, mark.c.mk == OLD_MK, mark.c.mid.in_(MIDS)
            )
        else:
            drop = self._drop_mark_of_session()
        drop_all = sa.delete(mark).where(mark.c.sid == SID)
        if by_ids:
            drop_all = drop_all.where(mark.c.mid.in_(MIDS))
        copy = self._lock_messages_read(self._carriers_of_old(new_mk, new_mark, by_ids))
        return Remark(
            add_mark=self._insert_marks_from(self._lock_messages_read(to_all)),
            copy_mark=self._insert_marks_from(copy),
            drop_mark=drop,
            drop_all_marks=drop_all.returning(mark.c.mid),
        )

    def _insert_marks_from(self, src: sa.Select[Any]) -> Insert:
        cols = ["sid", "mid", "mk", "mark", "seq"]
        return self._insert_ignore(self.tables.mark, ["sid", "mid", "mk"]).from_select(cols, src)

    def read(self, key: ReadKey) -> sa.Executable:
        """Return the ``get_memory`` statement for ``key``.

        Rows are ``(body, seq)``. With ``key.limit`` the messages come newest
        first; with ``key.summary`` the summary row (seq 0) is among them, in
        no particular place, and the caller sorts.
        """
        stmt = self._reads.get(key)
        if stmt is None:
            stmt = self._reads[key] = self._build_read(key)
        return stmt

    def _build_read(self, key: ReadKey) -> sa.Executable:
        msg, marks = self.tables.message, self.tables.mark
        query: Any  # a Select, typed loosely: its column types vary by branch
        if key.mark:
            joined = marks.join(msg, sa.and_(msg.c.sid == marks.c.sid, msg.c.mid == marks.c.mid))
            query = (
                sa.select(msg.c.msg.label("body"), marks.c.seq.label("seq"))
                .select_from(joined)
                .where(marks.c.sid == SID, marks.c.mk == sa.bindparam("mk", type_=Digest))
            )
            order = marks.c.seq
        else:
            query = sa.select(msg.c.msg.label("body"), msg.c.seq.label("seq")).where(
                msg.c.sid == SID
            )
            order = msg.c.seq
        if key.exclude:
            # The mark table aliased, so the subquery correlates to the message.
            xmk = sa.bindparam("xmk", type_=Digest)
            query = query.where(self._lacks_mark(msg, xmk, marks.alias("x")))
        if key.limit:
            query = query.order_by(order.desc()).limit(sa.bindparam("lim", type_=sa.Integer))
        elif not key.summary:
            query = query.order_by(order)
        if not key.summary:
            return cast(sa.Executable, query)
        if key.limit:
            # A member of a UNION cannot carry its own LIMIT everywhere (SQLite).
            sub = query.subquery()
            query = sa.select(sub.c.body, sub.c.seq)
        return sa.union_all(self._summary_row, query)


def statements_for(tables: Tables, dialect: Dialect) -> Statements:
    """Return the statements of ``tables`` on ``dialect``, from that dialect's module."""
    # Imported here: each dialect module builds on this one.
    from memmark.sql._mysql import MySQLStatements
    from memmark.sql._postgres import PostgresStatements
    from memmark.sql._sqlite import SQLiteStatements

    kinds: dict[str, type[Statements]] = {
        "postgresql": PostgresStatements,
        "sqlite": SQLiteStatements,
        "mysql": MySQLStatements,
        "mariadb": MySQLStatements,
    }
    kind = kinds.get(dialect.name)
    if kind is None:
        raise UnsupportedDatabaseError(f"memmark.sql does not support {dialect.name}")
    return kind(tables, dialect)


def create_tables(conn: Connection, tables: Tables) -> Statements:
    """Create ``tables`` where missing, or upgrade them; return their statements.

    The server's limits are read too.

    Run once per engine and prefix, so the limits cost no round trip per call.
    """
    tables.metadata.create_all(conn)
    statements = statements_for(tables, conn.dialect)
    upgrade(conn, tables, statements.now_sql, statements.now_us_sql)
    statements.read_limits(conn)
    return statements
