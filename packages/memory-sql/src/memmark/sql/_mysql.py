"""MariaDB's statements (the ``mysql`` and ``mariadb`` dialects).

MariaDB has no ``ON CONFLICT``, and its optimizer needs two nudges: a
``DELETE`` with an ``IN (subquery)`` runs as a scan of the whole table (so
``delete_by_mark`` reads the carriers' ids first, locked), and a delete of
a mark many messages carry walks the primary key unless an index is named.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert

from memmark.core import MessageTooLargeError
from memmark.sql._schema import Digest
from memmark.sql._statements import Statements

# Room in each statement for what is not a row's values: the SQL text, the
# packet's header, the session key. Far more than they take.
PACKET_MARGIN = 64 * 1024
# A message row's bytes besides its id and body: two 32-byte digests written
# as escaped binary literals (at most twice their size, with a prefix), the
# quotes, commas and parentheses.
_ROW_BYTES = 256
# The characters asyncmy writes as two (a backslash first). JSON text holds
# NUL, newlines, CR and ^Z only escaped, so the other three are the ones seen.
_ESCAPED = ("\\", '"', "'")


def _text_bytes(text: str) -> int:
    """The bytes ``text`` takes in a statement, as asyncmy escapes it (UTF-8)."""
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return size + sum(text.count(char) for char in _ESCAPED)


def row_sizes(
    max_packet: int, msg_ids: Sequence[str], bodies: Sequence[str], where: str
) -> list[int]:
    """The bytes each message row takes in an insert, or ``[]`` when all fit one.

    Args:
        max_packet: The server's ``max_allowed_packet``.
        msg_ids: The messages' ids.
        bodies: The messages as JSON text.
        where: The argument named by an error.

    Raises:
        MessageTooLargeError: A message could not fit a statement on its own.
    """
    budget = max_packet - PACKET_MARGIN
    # A character is at most four bytes, escaped or not: when that bound fits,
    # (the common case) no message is weighed.
    bound = sum(4 * (len(i) + len(b)) + _ROW_BYTES for i, b in zip(msg_ids, bodies, strict=True))
    if bound <= budget:
        return []
    sizes = []
    for msg_id, body in zip(msg_ids, bodies, strict=True):
        size = _text_bytes(msg_id) + _text_bytes(body) + _ROW_BYTES
        if size > budget:
            raise MessageTooLargeError(
                f"{where}: message {msg_id[:40]!r} takes {size:,} bytes in an insert, more "
                f"than fit one statement under the server's max_allowed_packet of "
                f"{max_packet:,} bytes"
            )
        sizes.append(size)
    return sizes


def check_text_fits(max_packet: int, text: str, where: str) -> None:
    """Refuse ``text`` (a summary) when it could not fit one statement.

    Raises:
        MessageTooLargeError: It could not.
    """
    if 4 * len(text) + _ROW_BYTES > max_packet - PACKET_MARGIN:
        size = _text_bytes(text) + _ROW_BYTES
        if size > max_packet - PACKET_MARGIN:
            raise MessageTooLargeError(
                f"{where} takes {size:,} bytes in a statement, more than fit under the "
                f"server's max_allowed_packet of {max_packet:,} bytes"
            )


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
    # The database clock (NOW(6) is fixed for the statement).
    now_sql: ClassVar[str] = "UNIX_TIMESTAMP(NOW(6))"
    now_us_sql: ClassVar[str] = "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)"

    def _bump_session(self, session: sa.Table) -> sa.Executable:
        # The session row, written first, is also the session's lock: InnoDB
        # holds it exclusively until the commit. A replace (clear,
        # import_state) deletes and inserts in several statements, and an
        # add's autoincrement seq is taken before the add waits for the
        # replace's locks, so without it an add could commit messages ordered
        # before a replace that came first. MariaDB's RETURNING gives the row
        # as the update left it.
        insert = mysql.insert(session).values(self._new_session_row())
        upsert = insert.on_duplicate_key_update(
            version=session.c.version + 1,
            updated_at=insert.inserted.updated_at,
            uid=insert.inserted.uid,
        )
        return upsert.returning(session.c.version)

    def read_limits(self, conn: Connection) -> None:
        """Read the server's ``max_allowed_packet``: no statement may be larger.

        A larger one makes the server drop the connection.
        """
        value = conn.exec_driver_sql("SELECT @@max_allowed_packet").scalar_one()
        self.max_packet = int(value)

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
