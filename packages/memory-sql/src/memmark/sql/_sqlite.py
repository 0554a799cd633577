"""SQLite's statements: ``ON CONFLICT`` as PostgreSQL writes it, everything else shared."""

from __future__ import annotations

from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from memmark.sql._statements import Statements


class SQLiteStatements(Statements):
    """SQLite's statements of one prefix.

    Args:
        tables: The tables of the prefix.
        dialect: The engine's dialect.
    """

    # Switching aiosqlite to autocommit and back is two trips to its thread
    # (about 0.8 ms of a 1.8 ms size() on a loaded machine), and buys
    # nothing: the sqlite3 module opens no transaction for a SELECT, and
    # an engine made to BEGIN on every transaction (SQLAlchemy's SQLite
    # notes) still gives a read one snapshot, ended by the pool's rollback.
    autocommit: ClassVar[bool] = False

    def _on_conflict_insert(self, table: sa.Table) -> sqlite.Insert:
        return sqlite.insert(table)
