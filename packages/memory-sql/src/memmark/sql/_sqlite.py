"""SQLite's statements: ``ON CONFLICT`` as PostgreSQL writes it, everything else shared."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from memmark.sql._statements import Statements


class SQLiteStatements(Statements):
    """SQLite's statements of one prefix.

    Args:
        tables: The tables of the prefix.
        dialect: The engine's dialect.
    """

    def _on_conflict_insert(self, table: sa.Table) -> sqlite.Insert:
        return sqlite.insert(table)
