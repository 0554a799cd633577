"""The statements of one prefix on one dialect, built once and reused.

Every statement is Core (no ORM objects on any path), built once per engine
and prefix, so SQLAlchemy's compiled cache hits on every call after the
first. Every statement is bound to ``sid``, the digest of the
``(user_id, session_id)`` pair.
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Delete, Insert

from memmark.sql._pg import PgSQL
from memmark.sql._schema import Digest, RawText, Tables

_MYSQL = ("mysql", "mariadb")

# asyncpg allows 32,767 parameters per statement, SQLite 32,766 (since 3.32);
# stay under both with room for the session key.
MAX_PARAMS = 32_000
# Ids per ``IN (...)`` list, kept well under MAX_PARAMS.
MAX_IN = 5_000
# Messages per array statement on PostgreSQL (arrays have no parameter limit;
# this only bounds one statement's size).
ARRAY_ROWS = 5_000


def _per_row(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """``(condition) IS TRUE``: the same test, in a form no index can take.

    It leaves the planner only the other conditions' indexes, whatever its
    statistics say (see memmark.sql._pg).
    """
    return condition.is_(sa.true())


def _array(select: sa.Select[Any]) -> sa.ColumnElement[Any]:
    """PostgreSQL's ``ARRAY(select)``: an init plan, read once, not a join."""
    return sa.func.array(select.scalar_subquery())


class UnsupportedDatabaseError(NotImplementedError):
    """The database lacks ``INSERT ... RETURNING``, which the add path relies on."""


class Plan:
    """Ready-made statements for one prefix on one dialect.

    Args:
        tables: The tables of the prefix.
        dialect: The engine's dialect, initialised (connected once), so that
            server-dependent features such as MariaDB's RETURNING are known.
    """

    def __init__(self, tables: Tables, dialect: Dialect) -> None:
        self.tables = tables
        name = dialect.name
        self.pg = name == "postgresql"
        self.sqlite = name == "sqlite"
        self.mysql = name in _MYSQL
        if not (dialect.insert_executemany_returning and dialect.delete_returning):
            raise UnsupportedDatabaseError(
                f"memmark.sql needs INSERT ... RETURNING and DELETE ... RETURNING, which "
                f"{name} {dialect.server_version_info} does not have; use PostgreSQL, "
                "SQLite >= 3.35 or MariaDB >= 10.5"
            )
        # Switching a connection to autocommit costs no round trip on these
        # drivers, and saves BEGIN/COMMIT on one-statement calls. On MySQL it
        # is a server command each way, so there the implicit transaction stays.
        self.autocommit = self.pg or self.sqlite
        # PostgreSQL drivers decode ``json`` columns themselves.
        self.json_decoded = self.pg

        msg, mark, ses = tables.message, tables.mark, tables.session
        sid = sa.bindparam("sid", type_=Digest)
        mids = sa.bindparam("mids", expanding=True, type_=Digest)
        mks = sa.bindparam("mks", expanding=True, type_=Digest)

        # -- add ---------------------------------------------------------------
        self.insert_msgs: Insert = self._insert_ignore(msg, ["sid", "mid"])
        self.insert_msgs_returning: Insert = self.insert_msgs.returning(msg.c.seq, msg.c.mid)
        self.insert_marks: Insert = sa.insert(mark)
        # PostgreSQL's add and its hottest calls, as SQL text for asyncpg.
        self.pg_sql: PgSQL | None = PgSQL(tables) if self.pg else None
        self.msg_params = 4  # parameters per message row
        self.mark_params = 5

        # Where a statement walks the message table's primary key with an
        # array built by a subquery, the session is checked on each row in a
        # form no index can take ((sid = :sid) IS TRUE). Otherwise statistics
        # that count the session as one row make the planner read it by its
        # sid index and test each row against the whole array (see
        # memmark.sql._pg): quadratic.
        same_session = _per_row(msg.c.sid == sid) if self.pg else msg.c.sid == sid

        # -- delete ------------------------------------------------------------
        # Messages go first, then the marks of exactly the messages removed
        # (RETURNING), so a concurrent re-mark that locked a message either
        # finishes first (its marks are then seen and removed) or finds the
        # message gone.
        self.delete_msgs_by_id: sa.Executable = (
            sa.delete(msg).where(msg.c.sid == sid, msg.c.mid.in_(mids)).returning(msg.c.mid)
        )
        carriers = sa.select(mark.c.mid).where(mark.c.sid == sid, mark.c.mk.in_(mks))
        if self.pg:
            # No join on PostgreSQL (see memmark.sql._pg): the carriers' seqs
            # as an array built once, then the message index walked with it.
            carried = msg.c.seq == sa.any_(_array(carriers.with_only_columns(mark.c.seq)))
        else:
            carried = msg.c.mid.in_(carriers)
        self.delete_msgs_by_mark: sa.Executable = (
            sa.delete(msg).where(same_session, carried).returning(msg.c.mid)
        )
        # MariaDB runs a DELETE with an IN (subquery) as a scan of the whole
        # table, so there the ids carrying the marks are read first, locked.
        self.mids_with_marks: sa.Executable = (
            sa.select(mark.c.mid)
            .distinct()
            .where(mark.c.sid == sid, mark.c.mk.in_(mks))
            .with_for_update()
        )
        self.delete_marks_of: Delete = sa.delete(mark).where(
            mark.c.sid == sid, mark.c.mid.in_(mids)
        )
        self.clear_msgs: Delete = sa.delete(msg).where(msg.c.sid == sid)
        self.clear_marks: Delete = sa.delete(mark).where(mark.c.sid == sid)

        # -- update_messages_mark ---------------------------------------------
        new_mk = self._param("new_mk", Digest)
        new_mark = self._param("new_mark", RawText)
        old_mk = sa.bindparam("old_mk", type_=Digest)

        def add_new_to_all(by_ids: bool) -> Insert:
            lacks_new = self._lacks_mark(msg, new_mk, mark)
            src = sa.select(msg.c.sid, msg.c.mid, new_mk, new_mark, msg.c.seq).where(
                msg.c.sid == sid, lacks_new
            )
            if by_ids:
                src = src.where(msg.c.mid.in_(mids))
            return self._insert_marks_from(src)

        def replace_old(by_ids: bool) -> Insert:
            if self.pg:
                # The messages carrying the old mark, found without a join
                # (see memmark.sql._pg) and read from the message table, whose
                # rows are locked.
                old_seqs = sa.select(mark.c.seq).where(mark.c.sid == sid, mark.c.mk == old_mk)
                if by_ids:
                    old_seqs = old_seqs.where(mark.c.mid.in_(mids))
                src = sa.select(msg.c.sid, msg.c.mid, new_mk, new_mark, msg.c.seq).where(
                    same_session, msg.c.seq == sa.any_(_array(old_seqs))
                )
                return self._insert_marks_from(src, lock_of=msg)
            joined = mark.join(msg, sa.and_(msg.c.sid == mark.c.sid, msg.c.mid == mark.c.mid))
            src = (
                sa.select(mark.c.sid, mark.c.mid, new_mk, new_mark, mark.c.seq)
                .select_from(joined)
                .where(mark.c.sid == sid, mark.c.mk == old_mk)
            )
            if by_ids:
                src = src.where(mark.c.mid.in_(mids))
            return self._insert_marks_from(src, lock_of=msg)

        def drop_old(by_ids: bool) -> sa.Executable:
            if self.mysql and not by_ids:
                return self._drop_mark_on_index(dialect)
            stmt = sa.delete(mark).where(mark.c.sid == sid, mark.c.mk == old_mk)
            return stmt.where(mark.c.mid.in_(mids)) if by_ids else stmt

        def drop_all(by_ids: bool) -> sa.Executable:
            stmt = sa.delete(mark).where(mark.c.sid == sid)
            if by_ids:
                stmt = stmt.where(mark.c.mid.in_(mids))
            return stmt.returning(mark.c.mid)

        self.add_new = {b: add_new_to_all(b) for b in (False, True)}
        self.replace_old = {b: replace_old(b) for b in (False, True)}
        self.drop_old = {b: drop_old(b) for b in (False, True)}
        self.drop_all = {b: drop_all(b) for b in (False, True)}

        # -- summary -----------------------------------------------------------
        self.upsert_summary = self._upsert_summary(ses)

        # -- reads -------------------------------------------------------------
        self.size = sa.select(sa.func.count()).select_from(msg).where(msg.c.sid == sid)
        self._reads: dict[tuple[bool, bool, bool, bool], sa.Executable] = {}
        summary_row = sa.select(ses.c.summary, sa.literal_column("0", sa.BigInteger)).where(
            ses.c.sid == sid
        )
        self._summary_row = summary_row
        self.summary = sa.select(ses.c.summary).where(ses.c.sid == sid)
        if self.pg:
            # A lateral subquery that cannot be flattened into a join (OFFSET
            # 0): each message's marks are read on the mark table's primary
            # key, whatever the statistics say (see memmark.sql._pg).
            its_marks = (
                sa.select(mark.c.mark)
                .where(mark.c.seq == msg.c.seq, _per_row(mark.c.sid == msg.c.sid))
                .offset(sa.literal_column("0"))
                .lateral("k")
            )
            marks_of = sa.outerjoin(msg, its_marks, sa.true())
            mark_col = its_marks.c.mark
        else:
            marks_of = sa.outerjoin(
                msg, mark, sa.and_(mark.c.sid == msg.c.sid, mark.c.mid == msg.c.mid)
            )
            mark_col = mark.c.mark
        # One statement, so the export is one consistent snapshot: the summary
        # (seq 0), then each message once per mark (or once, unmarked).
        self.export = sa.union_all(
            sa.select(
                sa.literal_column("0", sa.BigInteger).label("seq"),
                ses.c.summary.label("body"),
                sa.null().label("mark"),
            ).where(ses.c.sid == sid),
            sa.select(msg.c.seq, msg.c.msg, mark_col).select_from(marks_of).where(msg.c.sid == sid),
        )

    # -- builders --------------------------------------------------------------

    def _lacks_mark(
        self, row: sa.FromClause, mk: Any, mark: sa.FromClause
    ) -> sa.ColumnElement[bool]:
        """True where the message of ``row`` lacks the mark digest ``mk`` in ``mark``."""
        if self.pg:
            # Per row, by the row's seq through the mark(seq) index, with the
            # session checked in a form no index takes: an anti-join, or a
            # lookup by (sid, mid) that stale statistics turn into a walk over
            # the session's marks, would be quadratic (see memmark.sql._pg).
            its_marks = sa.select(mark.c.mk).where(
                mark.c.seq == row.c.seq, _per_row(mark.c.sid == row.c.sid)
            )
            lacks: sa.ColumnElement[bool] = mk != sa.all_(its_marks.scalar_subquery())
            return lacks
        has = (
            sa.select(sa.literal_column("1"))
            .where(mark.c.sid == row.c.sid, mark.c.mid == row.c.mid, mark.c.mk == mk)
            .exists()
        )
        return ~has

    def _param(self, name: str, type_: Any) -> Any:
        param = sa.bindparam(name, type_=type_)
        # In ``INSERT ... SELECT :p`` PostgreSQL cannot infer a parameter's type.
        return sa.cast(param, type_) if self.pg else param

    def _insert_ignore(self, table: sa.Table, keys: list[str]) -> Insert:
        """An INSERT that skips rows whose ``keys`` are taken (and no other error)."""
        if self.pg:
            return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
        if self.sqlite:
            return sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
        # MariaDB has no ON CONFLICT. IGNORE also downgrades some other errors
        # to warnings, but none can occur here: every column is sized so no
        # value is ever truncated, and JSON is always valid.
        return sa.insert(table).prefix_with("IGNORE")

    def _drop_mark_on_index(self, dialect: Dialect) -> sa.TextClause:
        """MariaDB's delete of one mark from a whole session, on the (sid, mk, seq) index.

        Left to itself, the optimizer deletes a mark that a good part of the
        session carries by walking all the session's marks on the primary
        key, and InnoDB locks every row it reads: a writer that has just
        added other marks then waits for the re-mark while the re-mark waits
        for it, a deadlock. Only the multi-table form of ``DELETE`` takes an
        index hint, hence the text.
        """
        mark = self.tables.mark
        index = next(i for i in mark.indexes if [c.name for c in i.columns] == ["sid", "mk", "seq"])
        quote = dialect.identifier_preparer
        stmt = sa.text(
            f"DELETE m FROM {quote.format_table(mark)} AS m "
            f"FORCE INDEX ({quote.quote(str(index.name))}) WHERE m.sid = :sid AND m.mk = :old_mk"
        )
        return stmt.bindparams(
            sa.bindparam("sid", type_=Digest), sa.bindparam("old_mk", type_=Digest)
        )

    def _insert_marks_from(self, src: sa.Select[Any], lock_of: sa.Table | None = None) -> Insert:
        if self.pg:
            # Lock the messages read, so a concurrent delete waits for the
            # new marks to commit and then removes them (never an orphan).
            src = src.with_for_update(read=True, key_share=True, of=lock_of)
        mark = self.tables.mark
        cols = ["sid", "mid", "mk", "mark", "seq"]
        # InnoDB already takes shared locks on rows an INSERT ... SELECT reads.
        return self._insert_ignore(mark, ["sid", "mid", "mk"]).from_select(cols, src)

    def _upsert_summary(self, ses: sa.Table) -> Insert:
        if self.pg:
            pg_ins = postgresql.insert(ses)
            return pg_ins.on_conflict_do_update(
                index_elements=["sid"], set_={"summary": pg_ins.excluded.summary}
            )
        if self.sqlite:
            lite_ins = sqlite.insert(ses)
            return lite_ins.on_conflict_do_update(
                index_elements=["sid"], set_={"summary": lite_ins.excluded.summary}
            )
        my_ins = mysql.insert(ses)
        return my_ins.on_duplicate_key_update(summary=my_ins.inserted.summary)

    def read(self, mark: bool, exclude: bool, limit: bool, summary: bool) -> sa.Executable:
        """Return the ``get_memory`` statement for this combination of arguments.

        Rows are ``(body, seq)``. With ``limit`` the messages come newest
        first; with ``summary`` the summary row (seq 0) is among them, in no
        particular place, and the caller sorts.
        """
        key = (mark, exclude, limit, summary)
        stmt = self._reads.get(key)
        if stmt is None:
            stmt = self._reads[key] = self._build_read(*key)
        return stmt

    def _build_read(self, mark: bool, exclude: bool, limit: bool, summary: bool) -> sa.Executable:
        msg, marks = self.tables.message, self.tables.mark
        sid = sa.bindparam("sid", type_=Digest)
        q: Any  # Select, typed loosely: its column types vary by branch
        row: sa.FromClause = msg
        if mark and self.pg:
            # As the asyncpg path reads (see memmark.sql._pg): each message by
            # its primary key, per mark row, with no join to plan badly.
            body = (
                sa.select(msg.c.msg)
                .where(msg.c.seq == marks.c.seq, msg.c.sid == marks.c.sid)
                .scalar_subquery()
            )
            q = sa.select(body.label("body"), marks.c.seq.label("seq")).where(
                marks.c.sid == sid, marks.c.mk == sa.bindparam("mk", type_=Digest)
            )
            order = marks.c.seq
            row = marks
        elif mark:
            joined = marks.join(msg, sa.and_(msg.c.sid == marks.c.sid, msg.c.mid == marks.c.mid))
            q = (
                sa.select(msg.c.msg.label("body"), marks.c.seq.label("seq"))
                .select_from(joined)
                .where(marks.c.sid == sid, marks.c.mk == sa.bindparam("mk", type_=Digest))
            )
            order = marks.c.seq
        else:
            q = sa.select(msg.c.msg.label("body"), msg.c.seq.label("seq")).where(msg.c.sid == sid)
            order = msg.c.seq
        if exclude:
            # The mark table aliased, so the subquery correlates to the row
            # even when the row is a mark row itself.
            xmk = sa.bindparam("xmk", type_=Digest)
            q = q.where(self._lacks_mark(row, xmk, marks.alias("x")))
        if limit:
            q = q.order_by(order.desc()).limit(sa.bindparam("lim", type_=sa.Integer))
        elif not summary:
            q = q.order_by(order)
        if not summary:
            return cast(sa.Executable, q)
        if limit:
            # A member of a UNION cannot carry its own LIMIT everywhere (SQLite).
            sub = q.subquery()
            q = sa.select(sub.c.body, sub.c.seq)
        return sa.union_all(self._summary_row, q)
