"""The statements of contract v2: batches, pages, reads by id, the state slot.

Built once per engine and prefix, beside :class:`~memmark.sql._statements.Statements`
(as its ``v2`` attribute), from the same tables and the same dialect choices.

**A batch's version.** Every other write makes its session row or moves its
version on in one upsert (``Statements.bump``), but a batch must know the
version *before* it (for ``expect_version``, and for a replayed batch) and
whether the session existed. So a batch first locks the row with an upsert
that changes nothing of a row already there (:attr:`BatchStatements.lock`)
and makes a missing one with a negative version, minus the database clock:
what it returns is the version before, or, negative, "none yet". Then
:attr:`BatchStatements.bump` moves it on: the negative one to the clock (a
new session starts at the clock, as with every write), any other by one. A
negative version never commits, so no reader ever sees one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.sql.dml import Insert

from memmark.sql._schema import Digest, RawText

if TYPE_CHECKING:
    from memmark.sql._statements import Statements

SID = sa.bindparam("sid", type_=Digest)
# An UPDATE may not name a parameter after a column it sets.
B_SID = sa.bindparam("b_sid", type_=Digest)
MIDS = sa.bindparam("mids", expanding=True, type_=Digest)
_TEXT = sa.Text()


@dataclass(frozen=True)
class PageKey:
    """Which ``get_page`` arguments are set (each changes the statement).

    Attributes:
        mark: A mark selects.
        exclude: A mark excludes.
        cursor: ``"before"``, ``"after"`` or ``None``.
    """

    mark: bool
    exclude: bool
    cursor: str | None


class BatchStatements:
    """The v2 statements of one prefix on one dialect.

    Args:
        statements: The prefix's statements, whose tables and dialect
            choices these share.
    """

    def __init__(self, statements: Statements) -> None:
        self._statements = statements
        tables = statements.tables
        ses, msg, batch = tables.session, tables.message, tables.batch
        self._mysql = statements.dialect.name in ("mysql", "mariadb")
        self._postgres = statements.dialect.name == "postgresql"
        now_us = sa.literal_column(statements.now_us_sql, sa.BigInteger)
        now = sa.literal_column(statements.now_sql, sa.Double)

        # -- the session row (see the module's docstring) ---------------------
        # Parameters: sid, uid, user_id, session_id, no_summary.
        row = {**statements._new_session_row(), "version": -now_us}
        if self._mysql:
            insert = mysql.insert(ses).values(row)
            lock: Any = insert.on_duplicate_key_update(version=ses.c.version)
        else:
            insert = statements._on_conflict_insert(ses).values(row)
            lock = insert.on_conflict_do_update(
                index_elements=["sid"], set_={"version": ses.c.version}
            )
        self.lock: sa.Executable = lock.returning(ses.c.version)
        # Parameters: b_sid, b_uid.
        self.bump: sa.Executable = (
            sa.update(ses)
            .where(ses.c.sid == B_SID)
            .values(
                version=sa.case((ses.c.version < 0, -ses.c.version), else_=ses.c.version + 1),
                updated_at=now,
                uid=sa.bindparam("b_uid", type_=Digest),
            )
        )

        # -- batch ids ----------------------------------------------------------
        bid = sa.bindparam("bid", type_=Digest)
        self.seen: sa.Executable = sa.select(batch.c.bid).where(
            batch.c.sid == SID, batch.c.bid == bid
        )
        self.remember: Insert = sa.insert(batch).values(
            sid=SID, bid=bid, batch_id=sa.bindparam("batch_id", type_=RawText), applied_at=now
        )
        self.forget: sa.Executable = sa.delete(batch).where(batch.c.sid == SID)

        # -- upsert, pop ----------------------------------------------------------
        # The stored messages among ``mids``: (mid, seq).
        self.stored: sa.Executable = sa.select(msg.c.mid, msg.c.seq).where(
            msg.c.sid == SID, msg.c.mid.in_(MIDS)
        )
        # A stored message's new payload (executemany): b_sid, b_mid, b_msg.
        self.replace_message: sa.Executable = (
            sa.update(msg)
            .where(msg.c.sid == B_SID, msg.c.mid == sa.bindparam("b_mid", type_=Digest))
            .values(msg=sa.bindparam("b_msg", type_=msg.c.msg.type))
        )
        # Marks given to messages that may carry them already.
        self.add_marks: Insert = statements._insert_ignore(tables.mark, ["sid", "mid", "mk"])
        self.newest: sa.Executable = (
            sa.select(msg.c.mid, sa.cast(msg.c.msg, _TEXT))
            .where(msg.c.sid == SID)
            .order_by(msg.c.seq.desc())
            .limit(1)
        )

        # -- the state slot -------------------------------------------------------
        # Parameters: b_sid, and b_state for set_state.
        self.set_state: sa.Executable = (
            sa.update(ses)
            .where(ses.c.sid == B_SID)
            .values(state=sa.bindparam("b_state", type_=ses.c.state.type))
        )
        self.unset_state: sa.Executable = (
            sa.update(ses).where(ses.c.sid == B_SID).values(state=sa.null())
        )
        self.state: sa.Executable = sa.select(sa.cast(ses.c.state, _TEXT)).where(ses.c.sid == SID)

        # -- reads by id ----------------------------------------------------------
        # (seq, body): a read of more ids than one IN list holds is merged by seq.
        # Parameters: sid, mids.
        self.by_ids: sa.Executable = sa.select(msg.c.seq, sa.cast(msg.c.msg, _TEXT)).where(
            msg.c.sid == SID, msg.c.mid.in_(MIDS)
        )
        if self._postgres:
            # Each id looked up on its own, so the read is as long as the ids,
            # not the session: the first row at or after (sid, id) in
            # (sid, mid) order, kept when it is that id. Only the (sid, mid)
            # index gives that row without a sort; an equality on both
            # columns instead ties with (sid, seq) under statistics taken
            # before the session grew, and the planner then scans the whole
            # session once per id (1,000,000 rows read for 1,000 ids).
            name = statements.dialect.identifier_preparer.format_table(msg)
            self.by_ids = sa.text(
                f"SELECT m.seq, m.msg::text FROM unnest(:mids) AS k(mid) CROSS JOIN LATERAL "
                f"(SELECT sid, mid, seq, msg FROM {name} WHERE (sid, mid) >= (:sid, k.mid) "
                f"ORDER BY sid, mid LIMIT 1) AS m WHERE m.sid = :sid AND m.mid = k.mid"
            ).bindparams(
                sa.bindparam("sid", type_=Digest),
                sa.bindparam("mids", type_=postgresql.ARRAY(sa.LargeBinary())),
            )
        self._pages: dict[PageKey, sa.Executable] = {}

    def _is_message(self, mid: Any) -> sa.ColumnElement[bool]:
        """The condition that a message row is the session's message of digest ``mid``.

        On PostgreSQL as two row comparisons, which only the ``(sid, mid)``
        index can take: with statistics taken before the session grew, the
        planner reads ``sid = ... AND mid = ...`` on the smaller
        ``(sid, seq)`` index and filters the whole session by ``mid``.
        """
        msg = self._statements.tables.message
        if not self._postgres:
            return sa.and_(msg.c.sid == SID, msg.c.mid == mid)
        key = sa.tuple_(msg.c.sid, msg.c.mid)
        return sa.and_(key >= sa.tuple_(SID, mid), key <= sa.tuple_(SID, mid))

    def page(self, key: PageKey) -> sa.Executable:
        """Return the ``get_page`` statement for ``key``: one statement, so one snapshot.

        Rows are ``(kind, seq, body)``: kind 0 the session's version (in
        ``seq``; no row without a session row), kind 1 the cursor message's
        seq (no row when it is not stored), kind 2 the page's messages as
        JSON text, at most ``lim`` + 1 of them (one more tells ``has_more``),
        newest first when reading backwards, oldest first forwards.
        Parameters: ``sid``, ``lim``; ``cur`` (the cursor's id digest), ``mk``,
        ``xmk`` when used.
        """
        stmt = self._pages.get(key)
        if stmt is None:
            stmt = self._pages[key] = self._build_page(key)
        return stmt

    def _build_page(self, key: PageKey) -> sa.Executable:
        statements = self._statements
        tables = statements.tables
        ses, msg, marks = tables.session, tables.message, tables.mark
        kind = sa.literal_column
        version = sa.select(
            kind("0", sa.Integer).label("kind"),
            ses.c.version.label("seq"),
            sa.cast(sa.null(), _TEXT).label("body"),
        ).where(ses.c.sid == SID)
        members: list[Any] = [version]
        cursor_seq: Any = None
        if key.cursor is not None:
            cur = sa.bindparam("cur", type_=Digest)
            cursor_row = sa.select(msg.c.seq).where(self._is_message(cur))
            members.append(
                sa.select(kind("1", sa.Integer), msg.c.seq, sa.cast(sa.null(), _TEXT)).where(
                    self._is_message(cur)
                )
            )
            cursor_seq = cursor_row.scalar_subquery()
        row: Any = marks if key.mark else msg
        seq: Any = row.c.seq
        # The mark's index (sid, mk, seq), or the session's (sid, seq), walked in order.
        query = sa.select(row.c.sid, seq).where(row.c.sid == SID)
        if key.mark:
            query = query.where(marks.c.mk == sa.bindparam("mk", type_=Digest))
        if key.exclude:
            xmk = sa.bindparam("xmk", type_=Digest)
            query = query.where(statements._lacks_mark(row, xmk, marks.alias("x")))
        backwards = key.cursor != "after"
        if cursor_seq is not None:
            query = query.where(seq < cursor_seq if backwards else seq > cursor_seq)
        order = seq.desc() if backwards else seq.asc()
        lim = sa.bindparam("lim", type_=sa.Integer)
        # A member of a UNION cannot carry its own LIMIT everywhere (SQLite).
        page = query.order_by(order).limit(lim).subquery()
        # Text only of the page's rows, each message by its primary key: made
        # in the scan, it is made for every row the plan sorts (on PostgreSQL
        # with statistics from before the session existed, the whole session).
        m = msg.alias("m")
        body = (
            sa.select(sa.cast(m.c.msg, _TEXT))
            .where(m.c.seq == page.c.seq, m.c.sid == page.c.sid)
            .scalar_subquery()
        )
        members.append(sa.select(kind("2", sa.Integer), page.c.seq, body))
        return cast(sa.Executable, sa.union_all(*members))
