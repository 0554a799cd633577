"""PostgreSQL's statements: plans no statistics can spoil, and the hot calls as SQL text.

**No joins.** PostgreSQL plans with the statistics of the last ANALYZE;
when they were taken before a session existed (new tables, a new tenant, a
session grown since), the session's rows are estimated at one, and a join
may be planned as a nested loop whose inner side scans the whole session
for every outer row, with the join key only as a filter: 1.5 s to read the
2,000 marked messages of a 4,000-message session, 8 s to delete them. A
subquery run per row (a primary-key lookup) or an array built once by an
init plan leaves the planner no such choice, whatever the statistics say.

Where a statement walks the message table's primary key with an array
built by a subquery, the session is checked on each row in a form no index
can take (``(sid = :sid) IS TRUE``). Such an array is not hashed, as a
constant list is, so statistics that count the session as one row would
otherwise make the planner read it by its sid index and test each row
against the whole array: quadratic, minutes for half of 100,000 messages.

**The session's lock.** PostgreSQL runs READ COMMITTED: each statement
of a transaction sees what committed before that statement began. A write
of several statements over the same rows could then see a concurrent add in
one statement and not in the next: a re-mark inserted the new mark for the
carriers of the old one it saw, then deleted the old mark from carriers
that included a message committed in between, which ended with neither; a
clear or an import deleted the messages it saw, then the marks of every
message, stripping one added in between. And one-statement writes read by
a snapshot taken before they wait: a delete that waited for an import
deleted from the state before it. So every write first writes its
session's row (:attr:`bump`: made if missing, its version moved on), which
PostgreSQL keeps locked until the commit: in a statement of its own before
the statements that read and write (which then see every write committed
before them), and an add writes it in its one statement before it inserts
anything (nothing in an add reads by its snapshot). A second writer's
upsert waits for that lock, then updates the row as the first committed it
(``ON CONFLICT DO UPDATE`` works on the latest row, not the snapshot), so
versions follow the order of the commits. The writes of one session take
turns, so two adds never interleave their messages either; writes of
different sessions never wait on each other. (Release 0.1 took a
transaction-level advisory lock instead; the row does the same work and
gives the version in the same round trip.)

**SQL text.** ``add``, ``get_memory`` and ``size`` are SQL text with
positional parameters (``$1`` is always the session digest; id lists travel
as one array parameter, so no call is cut into chunks). With an engine they
run on the asyncpg connection under SQLAlchemy's pooled one, skipping
SQLAlchemy's execute machinery, which on these calls cost more than the
database did; asyncpg prepares each text once per connection. With a
session they run through ``exec_driver_sql`` in the caller's transaction.
The text is built from the same :class:`~memmark.sql._schema.Tables` as the
Core statements, with names quoted by the PostgreSQL dialect, so a prefix
or a column can never differ between the two.
"""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from memmark.sql._schema import Tables
from memmark.sql._statements import MIDS, MKS, OLD_MK, SID, ReadKey, Statements

# Messages per array statement (arrays have no parameter limit; this only
# bounds one statement's size).
ARRAY_ROWS = 5_000
# A transaction-local setting (a custom "class.name" parameter) that carries the
# removed ids between the statements of one delete.
_GONE = "memmark.gone"


# A condition that always holds, added to the reads: its subquery is costed at
# ten million in a generic plan and folded away in a custom one (``$1``, the
# session digest, is never NULL), so PostgreSQL never settles on a generic
# plan for them. asyncpg prepares each statement once per connection, and
# after five runs PostgreSQL keeps a generic plan when it costs no more than
# the custom ones did: one made while the tables were small (a new deployment,
# a new tenant, statistics from before) reads them by sequential scans, also
# in the subqueries run per row, and is kept for the connection's life,
# however large the tables grow. Planned on every run, a statement is planned
# with the tables' present size (PostgreSQL scales the last statistics to the
# pages the table has now), and the statements here are linear on any
# statistics under such plans. For the engines memmark makes,
# ``plan_cache_mode=force_custom_plan`` does the same (see memmark.sql._open);
# this keeps it true for a caller's engine without changing its settings.
CUSTOM_PLANS = "(SELECT count(*) FROM generate_series(1, 1000000000) WHERE $1 IS NULL) = 0"


def _per_row(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """``(condition) IS TRUE``: the same test, in a form no index can take."""
    return condition.is_(sa.true())


def _array(select: sa.Select[Any]) -> sa.ColumnElement[Any]:
    """``ARRAY(select)``: an init plan, read once, not a join."""
    return sa.func.array(select.scalar_subquery())


def _bytea(value: bytes) -> str:
    # decode(hex): the same literal whatever standard_conforming_strings says.
    return f"decode('{value.hex()}', 'hex')"


def _bytea_array(values: list[bytes]) -> str:
    # Each decode() of a constant is folded at planning, so the planner sees
    # one constant array and walks the index with it.
    return f"ARRAY[{','.join(map(_bytea, values))}]::bytea[]"


class PostgresStatements(Statements):
    """PostgreSQL's statements of one prefix, Core and text.

    Args:
        tables: The tables of the prefix.
        dialect: The engine's dialect.
    """

    json_decoded: ClassVar[bool] = True  # asyncpg decodes json columns itself
    now_sql: ClassVar[str] = "extract(epoch from clock_timestamp())::float8"
    now_us_sql: ClassVar[str] = "(extract(epoch from clock_timestamp()) * 1000000)::bigint"

    def __init__(self, tables: Tables, dialect: Dialect) -> None:
        super().__init__(tables, dialect)
        fmt = dialect.identifier_preparer.format_table
        self._msg = msg = fmt(tables.message)
        self._mark = mark = fmt(tables.mark)
        self._ses = fmt(tables.session)
        self._read_sql: dict[ReadKey, str] = {}
        ses = self._ses
        # The session row's upsert (see Statements.bump), the session's lock:
        # $1 sid, $2 uid, $3 user_id, $4 session_id.
        bump = f"""
            INSERT INTO {ses} AS s (sid, uid, user_id, session_id, summary, version, updated_at)
            VALUES ($1::bytea, $2::bytea, $3::text, $4::text, '""'::json,
                    {self.now_us_sql}, {self.now_sql})
            ON CONFLICT (sid) DO UPDATE
                SET version = s.version + 1, updated_at = EXCLUDED.updated_at, uid = EXCLUDED.uid
            RETURNING version
        """
        self.bump_sql = bump
        # The whole add in one statement (atomic on its own): the rows travel
        # as arrays, the messages are inserted in array order (ORDER BY
        # ordinality fixes the order seq is assigned in), and the marks join
        # exactly the rows the insert returned, so a message that lost a race
        # for its id never gets this call's marks. Returns the ids inserted,
        # and a row of the session's new version (mid NULL).
        # The session's row is written first, which waits for any other
        # write of the session to commit: the rows to insert are the cross
        # product with the upsert's one row, sorted before the first is
        # inserted. (The statement's snapshot predates that wait, but nothing
        # here reads by it: ON CONFLICT checks the latest committed rows.)
        # $1 sid, $2 uid, $3 user_id, $4 session_id, $5 mids, $6 msg_ids,
        # $7 msgs (JSON text), $8 mks, $9 marks.
        self.add_sql = f"""
            WITH locked AS ({bump}), ins AS (
                INSERT INTO {msg} (sid, mid, msg_id, msg)
                SELECT $1::bytea, t.mid, t.msg_id, t.msg::json
                FROM unnest($5::bytea[], $6::text[], $7::text[])
                    WITH ORDINALITY AS t(mid, msg_id, msg, ord)
                    CROSS JOIN locked
                ORDER BY t.ord
                ON CONFLICT (sid, mid) DO NOTHING
                RETURNING seq, mid
            ), marked AS (
                INSERT INTO {mark} (sid, mid, mk, mark, seq)
                SELECT $1::bytea, ins.mid, k.mk, k.mark, ins.seq
                FROM ins CROSS JOIN unnest($8::bytea[], $9::text[]) AS k(mk, mark)
            )
            SELECT NULL::bytea, version FROM locked
            UNION ALL
            SELECT mid, NULL FROM ins
        """
        guard = CUSTOM_PLANS
        self.size_sql = f"SELECT count(*) FROM {msg} WHERE sid = $1 AND {guard}"
        self.probe_sql = f"SELECT version, summary::text FROM {ses} WHERE sid = $1 AND {guard}"
        self.version_sql = f"SELECT version FROM {ses} WHERE sid = $1 AND {guard}"
        # The whole session for the message cache, one statement (see
        # Statements.snapshot): (seq, body, mark, version), the session row
        # first; each message's marks read by its seq, as in the export.
        self.snapshot_sql = f"""
            SELECT 0::bigint AS seq, summary::text AS body, NULL::text AS mark, version
            FROM {ses} WHERE sid = $1
            UNION ALL
            SELECT m.seq, m.msg::text, k.mark, NULL::bigint
            FROM {msg} m LEFT JOIN LATERAL (
                SELECT x.mark FROM {mark} x
                WHERE x.seq = m.seq AND (x.sid = m.sid) IS TRUE OFFSET 0
            ) k ON true
            WHERE m.sid = $1 AND {guard}
            ORDER BY seq
        """

    # -- Core quirks ----------------------------------------------------------------

    def _lock_session(self, session: sa.Table) -> sa.Executable | None:
        # A delete does not see, nor wait for, a row another write is
        # inserting, and the delete's later statements would then remove that
        # write's messages once it commits, leaving its row empty. The upsert
        # waits for that insert, and locks the row either way; it returns
        # whether it made the row (xmax is 0 only in a row just inserted).
        insert = postgresql.insert(session).values(self._new_session_row())
        return insert.on_conflict_do_update(
            index_elements=["sid"], set_={"version": session.c.version}
        ).returning(sa.literal_column("xmax = 0", sa.Boolean))

    def _on_conflict_insert(self, table: sa.Table) -> postgresql.Insert:
        return postgresql.insert(table)

    def _in_session(self, table: sa.Table) -> sa.ColumnElement[bool]:
        return _per_row(table.c.sid == SID)

    def _carries_any(self, msg: sa.Table) -> sa.ColumnElement[bool]:
        # The carriers' seqs as an array built once, then the message primary
        # key walked with it.
        mark = self.tables.mark
        seqs = sa.select(mark.c.seq).where(mark.c.sid == SID, mark.c.mk.in_(MKS))
        return msg.c.seq == sa.any_(_array(seqs))

    def _param(self, name: str, type_: Any) -> Any:
        # In ``INSERT ... SELECT :p`` PostgreSQL cannot infer a parameter's type.
        return sa.cast(sa.bindparam(name, type_=type_), type_)

    def _lacks_mark(self, row: sa.FromClause, mk: Any, mark: sa.FromClause) -> Any:
        # Per row, by the row's seq through the mark(seq) index, with the
        # session checked in a form no index takes: an anti-join, or a lookup
        # by (sid, mid) that stale statistics turn into a walk over the
        # session's marks, would be quadratic.
        its_marks = sa.select(mark.c.mk).where(
            mark.c.seq == row.c.seq, _per_row(mark.c.sid == row.c.sid)
        )
        return mk != sa.all_(its_marks.scalar_subquery())

    def _carriers_of_old(self, new_mk: Any, new_mark: Any, by_ids: bool) -> sa.Select[Any]:
        # Found without a join and read from the message table, whose rows
        # are then locked.
        msg, mark = self.tables.message, self.tables.mark
        old_seqs = sa.select(mark.c.seq).where(mark.c.sid == SID, mark.c.mk == OLD_MK)
        if by_ids:
            old_seqs = old_seqs.where(mark.c.mid.in_(MIDS))
        return sa.select(msg.c.sid, msg.c.mid, new_mk, new_mark, msg.c.seq).where(
            self._in_session(msg), msg.c.seq == sa.any_(_array(old_seqs))
        )

    def _lock_messages_read(self, src: sa.Select[Any]) -> sa.Select[Any]:
        # Lock the messages read, so a concurrent delete waits for the new
        # marks to commit and then removes them (never an orphan).
        return src.with_for_update(read=True, key_share=True, of=self.tables.message)

    def _marks_of_messages(self) -> tuple[sa.FromClause, sa.ColumnElement[Any]]:
        # A lateral subquery that cannot be flattened into a join (OFFSET 0):
        # each message's marks are read on the mark table's primary key.
        msg, mark = self.tables.message, self.tables.mark
        its_marks = (
            sa.select(mark.c.mark)
            .where(mark.c.seq == msg.c.seq, _per_row(mark.c.sid == msg.c.sid))
            .offset(sa.literal_column("0"))
            .lateral("k")
        )
        return sa.outerjoin(msg, its_marks, sa.true()), its_marks.c.mark

    # -- SQL text -------------------------------------------------------------------

    def delete_script(self, sid: bytes, keys: list[bytes], *, by_mark: bool) -> str:
        """Return the SQL of a whole delete, three statements sent as one query.

        Messages go first, then (a second statement, so a fresh snapshot) the
        marks of exactly the messages removed: a concurrent re-mark, which
        locks the messages it reads, either committed first and its marks
        are seen and removed, or finds the message gone. One CTE would read
        the marks in the snapshot taken before that wait and miss them.

        PostgreSQL runs the statements of one simple query as one implicit
        transaction (atomic, also when cancelled), each with a fresh snapshot,
        so the delete costs one round trip instead of four (BEGIN, two
        statements, COMMIT). The removed ids pass from the first statement to
        the next through a transaction-local setting, and the last statement
        returns one row per id, so the command tag (``SELECT n``) is the count.
        A simple query takes no parameters: the values are inlined, and they
        are only digests the memory computed (hex), never caller text.

        Args:
            sid: The session digest.
            keys: Message-id digests, or mark digests when ``by_mark``.
            by_mark: Remove the messages carrying any of ``keys``.
        """
        session = _bytea(sid)
        listed = _bytea_array(keys)
        msg, mark = self._msg, self._mark
        if by_mark:
            # As _carries_any: the carriers' seqs as an array built once, the
            # primary key walked with it, the session checked per row.
            carriers = f"SELECT seq FROM {mark} WHERE sid = {session} AND mk = ANY({listed})"
            where = f"seq = ANY(ARRAY({carriers})) AND (sid = {session}) IS TRUE"
        else:
            # A constant list: hashed, so even a scan of the session is linear.
            where = f"sid = {session} AND mid = ANY({listed})"
        # ARRAY(subquery): an init plan, so the setting is parsed once, not
        # once per row looked at. The marks are found by seq, through the
        # mark_seq index, the only index that condition can use.
        gone = f"ARRAY(SELECT unnest(current_setting('{_GONE}')::bigint[]))"
        return f"""
            WITH gone AS (
                DELETE FROM {msg} WHERE {where} RETURNING seq
            )
            SELECT set_config('{_GONE}', coalesce(array_agg(seq)::text, '{{}}'), true) FROM gone;
            DELETE FROM {mark} WHERE seq = ANY({gone}) AND (sid = {session}) IS TRUE;
            SELECT FROM unnest({gone})
        """

    def read_sql(self, key: ReadKey) -> str:
        """Return the ``get_memory`` text for ``key``.

        Rows are ``(msg, seq)`` with ``msg`` as JSON text, oldest first; with
        ``key.summary`` the first row is ``(summary, 0)`` when the session has
        one, read in the same statement, so the result is one snapshot.
        Parameters: ``$1`` sid, then the mark's, the excluded mark's digests and
        the limit, each only when used, in that order.
        """
        sql = self._read_sql.get(key)
        if sql is None:
            sql = self._read_sql[key] = self._build_read_sql(key)
        return sql

    def _build_read_sql(self, key: ReadKey) -> str:
        # No joins: each message of a mark is fetched by its primary key in a
        # subquery run per mark row. The subqueries take sid from the outer
        # row, never from $1: a constant there would be estimated from the
        # statistics again.
        params = iter(range(2, 6))
        guard = CUSTOM_PLANS  # planned on each run, see there

        def text_of(row: str) -> str:
            # A message by its primary key, in a subquery run per row. ::text:
            # the column as written, decoded once by the memory (not row by
            # row by the driver's json codec).
            where = f"m.seq = {row}.seq AND m.sid = {row}.sid"
            return f"(SELECT m.msg::text FROM {self._msg} m WHERE {where})"

        if key.mark:
            body = text_of("k")
            source = f"{self._mark} k WHERE k.sid = $1 AND k.mk = ${next(params)} AND {guard}"
            row, seq = "k", "k.seq"  # the mark index (sid, mk, seq) is walked in order
        else:
            body = "m.msg::text"
            source = f"{self._msg} m WHERE m.sid = $1 AND {guard}"
            row, seq = "m", "m.seq"
        excluded = ""
        extra = ""
        if key.exclude:
            # The excluded mark's carriers come as rows of their own (body
            # NULL, their seq), and the memory drops them (see
            # exclude_rows): two scans of one table each, which no plan
            # makes quadratic. A per-row lookup of each message's marks, or
            # an anti-join, is linear only while the plan walks an index;
            # a plan made on small tables (a generic one, cached by a pooled
            # connection) scans the whole mark table once per message.
            xmk = f"${next(params)}"
            carriers = f"{self._mark} x WHERE x.sid = $1 AND x.mk = {xmk}"
            excluded = f" UNION ALL SELECT NULL::text AS body, x.seq AS seq FROM {carriers}"
            # Newest first, enough rows that the limit still holds once the
            # carriers among them are dropped.
            extra = f" + (SELECT count(*) FROM {carriers})"
        if key.limit:
            # The newest rows are chosen by seq alone; only they are made text.
            # On statistics from before the session existed (a new tenant's),
            # the plan fetches the whole session and sorts it (a bitmap scan,
            # then a top-N sort), and text made in the scan was made for every
            # message: 3.7 ms for the newest 50 of 1,000 agent messages, 7.1 ms
            # of 2,000, until the plan changes near 4,000 (1.0 ms).
            chosen = (
                f"SELECT {row}.sid, {seq} AS seq FROM {source} ORDER BY {seq} DESC "
                f"LIMIT ${next(params)}{extra}"
            )
            rows = f"SELECT {text_of('t')} AS body, t.seq AS seq FROM ({chosen}) AS t"
            seq = "seq"
        else:
            rows = f"SELECT {body} AS body, {seq} AS seq FROM {source}"
        if excluded:
            rows = f"SELECT body, seq FROM ({rows}{excluded}) AS e"
            seq = "seq"
        if not key.summary:
            return f"{rows} ORDER BY {seq}"
        summary = f"SELECT summary::text AS body, 0::bigint AS seq FROM {self._ses} WHERE sid = $1"
        return f"SELECT body, seq FROM ({summary} UNION ALL {rows}) AS u ORDER BY seq"


def exclude_rows(rows: list[Any], limit: int | None) -> list[Any]:
    """Drop the excluded mark's carriers from ``read_sql`` rows of an ``exclude`` key.

    The carriers are the rows whose body is NULL (only their seq is read);
    each message among the other rows with one of their seqs goes. With a
    ``limit``, the newest ``limit`` messages that remain are kept (the
    summary, seq 0, stays first).

    Args:
        rows: ``(body, seq)`` rows in seq order.
        limit: The call's limit, or ``None``.
    """
    gone = {seq for body, seq in rows if body is None}
    kept = [r for r in rows if r[0] is not None and r[1] not in gone]
    if limit is None:
        return kept
    head = kept[:1] if kept and kept[0][1] == 0 else []
    tail = kept[len(head) :]
    return head + (tail[-limit:] if limit else [])
