"""PostgreSQL's hot statements as SQL text for asyncpg, next to nothing else.

Given an ``AsyncEngine`` on PostgreSQL, the memory runs ``add``,
``get_memory``, ``size``, ``delete`` and ``delete_by_mark`` on the asyncpg
connection under SQLAlchemy's pooled one: the pool still owns the connection
(checkout, return, invalidation), but each statement skips SQLAlchemy's
execute machinery, which on these calls cost more than the database did.
asyncpg prepares each text once per connection and reuses it.

The text is built from the same :class:`~memmark.sql._schema.Tables` as the
Core statements in :mod:`memmark.sql._plan`, with names quoted by the
PostgreSQL dialect, so a prefix or a column can never differ between the two.
Every statement is bound to ``$1``, the session digest; id lists travel as
one array parameter, so no call is ever cut into chunks. The deletes are the
exception: one simple query of three statements (see
:meth:`PgSQL.delete_script`), with their values inlined as hex.

No statement joins the mark and message tables. PostgreSQL plans with the
statistics of the last ANALYZE; when they were taken before a session
existed (new tables, a new tenant, a session grown since), the session's
rows are estimated at one, and a join may be planned as a nested loop whose
inner side scans the whole session for every outer row, with the join key
only as a filter: 1.5 s to read the 2,000 marked messages of a
4,000-message session, 8 s to delete them. A subquery run per row (a
primary-key lookup) or an array built once by an init plan leaves the
planner no such choice, whatever the statistics say.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.dialects import postgresql

from memmark.sql._schema import Tables

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
# A transaction-local setting (a custom "class.name" parameter) that carries the
# removed ids between the statements of one delete.
_GONE = "memmark.gone"


def _bytea(value: bytes) -> str:
    # decode(hex): the same literal whatever standard_conforming_strings says.
    return f"decode('{value.hex()}', 'hex')"


def _bytea_array(values: list[bytes]) -> str:
    # Each decode() of a constant is folded at planning, so the planner sees
    # one constant array and walks the index with it.
    return f"ARRAY[{','.join(map(_bytea, values))}]::bytea[]"


@dataclass(frozen=True)
class ReadKey:
    """Which ``get_memory`` arguments are set (each changes the statement)."""

    mark: bool
    exclude: bool
    limit: bool
    summary: bool


@dataclass
class PgSQL:
    """The SQL text of one prefix's hot statements.

    Args:
        tables: The tables of the prefix.
    """

    tables: Tables
    add: str = field(init=False)
    size: str = field(init=False)
    _reads: dict[ReadKey, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        fmt = _DIALECT.identifier_preparer.format_table
        self._msg = msg = fmt(self.tables.message)
        self._mark = mark = fmt(self.tables.mark)
        self._ses = fmt(self.tables.session)
        # The whole add in one statement (atomic on its own): the rows travel
        # as arrays, the messages are inserted in array order (ORDER BY
        # ordinality fixes the order seq is assigned in), and the marks join
        # exactly the rows the insert returned, so a message that lost a race
        # for its id never gets this call's marks.
        # $1 sid, $2 mids, $3 msg_ids, $4 msgs (JSON text), $5 mks, $6 marks.
        self.add = f"""
            WITH ins AS (
                INSERT INTO {msg} (sid, mid, msg_id, msg)
                SELECT $1::bytea, t.mid, t.msg_id, t.msg::json
                FROM unnest($2::bytea[], $3::text[], $4::text[])
                    WITH ORDINALITY AS t(mid, msg_id, msg, ord)
                ORDER BY t.ord
                ON CONFLICT (sid, mid) DO NOTHING
                RETURNING seq, mid
            ), marked AS (
                INSERT INTO {mark} (sid, mid, mk, mark, seq)
                SELECT $1::bytea, ins.mid, k.mk, k.mark, ins.seq
                FROM ins CROSS JOIN unnest($5::bytea[], $6::text[]) AS k(mk, mark)
            )
            SELECT mid FROM ins
        """
        self.size = f"SELECT count(*) FROM {msg} WHERE sid = $1"

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
            # The carriers' seqs as an array built once (an init plan), then
            # the primary key walked with it. The session is checked on each
            # row in a form no index can take ((...) IS TRUE): with statistics
            # that count the session as one row, the planner would otherwise
            # read it by its sid index and test every row against the whole
            # array (an array from a subquery is not hashed, as a constant
            # list is): quadratic, minutes for half of 100,000 messages.
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

    def read(self, key: ReadKey) -> str:
        """Return the ``get_memory`` text for ``key``.

        Rows are ``(msg, seq)`` with ``msg`` as JSON text, oldest first; with
        ``key.summary`` the first row is ``(summary, 0)`` when the session has
        one, read in the same statement, so the result is one snapshot.
        Parameters: ``$1`` sid, then the mark's, the excluded mark's digests and
        the limit, each only when used, in that order.
        """
        sql = self._reads.get(key)
        if sql is None:
            sql = self._reads[key] = self._build_read(key)
        return sql

    def _build_read(self, key: ReadKey) -> str:
        # No joins (see the module docstring): each message of a mark is
        # fetched by its primary key in a subquery run per mark row, and an
        # excluded mark is looked up per row on the mark table's primary key.
        # The subqueries take sid from the outer row, never from $1: a
        # constant there would be estimated from the statistics again.
        params = iter(range(2, 6))
        # ::text: the column as written, decoded once by the memory (not row
        # by row by the driver's json codec).
        if key.mark:
            row = "k"
            body = f"(SELECT m.msg::text FROM {self._msg} m WHERE m.seq = k.seq AND m.sid = k.sid)"
            source = f"{self._mark} k WHERE k.sid = $1 AND k.mk = ${next(params)}"
            seq = "k.seq"  # the mark index (sid, mk, seq) is walked in order
        else:
            row = "m"
            body = "m.msg::text"
            source = f"{self._msg} m WHERE m.sid = $1"
            seq = "m.seq"
        if key.exclude:
            # The row's marks by its seq, through the mark(seq) index: the
            # only index the lookup can use, as the session is checked in a
            # form no index takes. By (sid, mid), statistics that count the
            # session as one row can make the planner walk all the session's
            # marks per row instead.
            source += (
                f" AND ${next(params)} <> ALL (SELECT x.mk FROM {self._mark} x "
                f"WHERE x.seq = {row}.seq AND (x.sid = {row}.sid) IS TRUE)"
            )
        rows = f"SELECT {body} AS body, {seq} AS seq FROM {source}"
        if key.limit:
            rows = f"SELECT body, seq FROM ({rows} ORDER BY {seq} DESC LIMIT ${next(params)}) AS t"
            seq = "seq"
        if not key.summary:
            return f"{rows} ORDER BY {seq}"
        ses = self._ses
        summary = f"SELECT summary::text AS body, 0::bigint AS seq FROM {ses} WHERE sid = $1"
        return f"SELECT body, seq FROM ({summary} UNION ALL {rows}) AS u ORDER BY seq"
