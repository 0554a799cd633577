"""MariaDB's statements (the ``mysql`` and ``mariadb`` dialects).

MariaDB has no ``ON CONFLICT``, and its optimizer needs two nudges: a
``DELETE`` with an ``IN (subquery)`` runs as a scan of the whole table (so
``delete_by_mark`` reads the carriers' ids first, locked), and a delete of
a mark many messages carry walks the primary key unless an index is named.
"""

from __future__ import annotations

from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

from memmark.sql._schema import Digest, Tables
from memmark.sql._statements import Statements


class MySQLStatements(Statements):
    """MariaDB's statements of one prefix.

    Args:
        tables: The tables of the prefix.
        dialect: The engine's dialect.
    """

    # Switching a connection to autocommit is a server command each way
    # here, so one-statement calls keep the implicit transaction.
    autocommit: ClassVar[bool] = False
    carriers_first: ClassVar[bool] = True

    def __init__(self, tables: Tables, dialect: Dialect) -> None:
        super().__init__(tables, dialect)
        # The session's lock: its session row, written (made if missing, its
        # summary kept) so InnoDB holds it exclusively until the commit. A
        # replace (clear, import_state) deletes and inserts in several
        # statements, and an add's autoincrement seq is taken before the add
        # waits for the replace's locks, so without it an add could commit
        # messages ordered before a replace that came first.
        session = tables.session
        upsert = mysql.insert(session).values(
            sid=sa.bindparam("sid", type_=Digest),
            user_id=sa.bindparam("user_id"),
            session_id=sa.bindparam("session_id"),
            summary=sa.bindparam("no_summary"),
        )
        self.lock_session = upsert.on_duplicate_key_update(sid=session.c.sid)

    def _insert_ignore(self, table: sa.Table, keys: list[str]) -> Insert:
        # IGNORE also downgrades some other errors to warnings, but none can
        # occur here: every column is sized so no value is ever truncated,
        # and JSON is always valid.
        return sa.insert(table).prefix_with("IGNORE")

    def _upsert_summary(self, session: sa.Table) -> Insert:
        insert = mysql.insert(session)
        return insert.on_duplicate_key_update(summary=insert.inserted.summary)

    def _drop_mark_of_session(self) -> sa.Executable:
        """The delete of one mark from a whole session, on the (sid, mk, seq) index.

        Left to itself, the optimizer deletes a mark that a good part of the
        session carries by walking all the session's marks on the primary
        key, and InnoDB locks every row it reads: a writer that has just
        added other marks then waits for the re-mark while the re-mark waits
        for it, a deadlock. Only the multi-table form of ``DELETE`` takes an
        index hint, hence the text.
        """
        mark = self.tables.mark
        index = next(i for i in mark.indexes if [c.name for c in i.columns] == ["sid", "mk", "seq"])
        quote = self.dialect.identifier_preparer
        stmt = sa.text(
            f"DELETE m FROM {quote.format_table(mark)} AS m "
            f"FORCE INDEX ({quote.quote(str(index.name))}) WHERE m.sid = :sid AND m.mk = :old_mk"
        )
        return stmt.bindparams(
            sa.bindparam("sid", type_=Digest), sa.bindparam("old_mk", type_=Digest)
        )
