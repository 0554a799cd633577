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
one array parameter (``= ANY($2)``), so no call is ever cut into chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.dialects import postgresql

from memmark.sql._schema import Tables

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


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
    delete_by_ids: str = field(init=False)
    delete_by_mark: str = field(init=False)
    delete_marks_of: str = field(init=False)
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
        # Messages go first, then (a second statement, so a fresh snapshot)
        # the marks of exactly the messages removed: a concurrent re-mark,
        # which locks the messages it reads, either commits first and its
        # marks are seen and removed, or finds the message gone.
        self.delete_by_ids = (
            f"DELETE FROM {msg} WHERE sid = $1 AND mid = ANY($2::bytea[]) RETURNING mid"
        )
        self.delete_by_mark = f"""
            DELETE FROM {msg} WHERE sid = $1 AND mid IN (
                SELECT mid FROM {mark} WHERE sid = $1 AND mk = ANY($2::bytea[])
            ) RETURNING mid
        """
        self.delete_marks_of = f"DELETE FROM {mark} WHERE sid = $1 AND mid = ANY($2::bytea[])"

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
        params = iter(range(2, 6))
        if key.mark:
            source = (
                f"{self._mark} k JOIN {self._msg} m ON m.sid = k.sid AND m.mid = k.mid "
                f"WHERE k.sid = $1 AND k.mk = ${next(params)}"
            )
            seq = "k.seq"  # the mark index (sid, mk, seq) is walked in order
        else:
            source = f"{self._msg} m WHERE m.sid = $1"
            seq = "m.seq"
        if key.exclude:
            source += (
                f" AND NOT EXISTS (SELECT 1 FROM {self._mark} x "
                f"WHERE x.sid = m.sid AND x.mid = m.mid AND x.mk = ${next(params)})"
            )
        # ::text: the column as written, decoded once by the memory (not row
        # by row by the driver's json codec).
        rows = f"SELECT m.msg::text AS body, {seq} AS seq FROM {source}"
        if key.limit:
            rows = f"SELECT body, seq FROM ({rows} ORDER BY {seq} DESC LIMIT ${next(params)}) AS t"
            seq = "seq"
        if not key.summary:
            return f"{rows} ORDER BY {seq}"
        ses = self._ses
        summary = f"SELECT summary::text AS body, 0::bigint AS seq FROM {ses} WHERE sid = $1"
        return f"SELECT body, seq FROM ({summary} UNION ALL {rows}) AS u ORDER BY seq"
