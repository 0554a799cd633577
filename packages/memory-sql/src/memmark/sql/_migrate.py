"""Bring tables made by an earlier release up to this one's schema.

Release 0.2's tables lack the session state slot (the session table's
``state`` column, NULL for "unset", which every row of 0.2 is) and the table
of applied batch ids (made empty by ``create_all``, as no batch ran before):
the first call on an engine adds both, and nothing needs a backfill.

Release 0.1's session table had no ``version``, ``updated_at`` or ``uid``
(and no indexes on them), and held a row only for a session with a summary
(on MariaDB, for every session written). The first call on an engine adds
what is missing, idempotently, and backfills what the rows allow: ``uid``
from the raw user id, and a fresh version and time. A session of 0.1
without a row (PostgreSQL and SQLite keep only digests in the message
table, so its ids cannot be recovered) gets one from its first write after
the upgrade: until then it reads as version 0 and is not listed.

Two processes upgrading at once: PostgreSQL and MariaDB add columns with
``IF NOT EXISTS``; SQLite has no such clause, so the loser of the race fails
with a duplicate column, and the caller's retry (see
``Connector._create_tables``) looks again and finds nothing to do. The
backfill only touches rows whose ``uid`` is still unset, and every write
sets it, so a row never gets a second fresh version.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from memmark.sql._schema import SESSION_COLUMNS, Tables, id_digest

# Rows backfilled per statement.
_BATCH = 1_000
# The columns of release 0.2 that 0.1 lacks: a row of 0.1 gets them by backfill.
_BACKFILLED = frozenset({"version", "updated_at", "uid"})


def upgrade(conn: Connection, tables: Tables, now_sql: str, now_us_sql: str) -> None:
    """Add the session table's missing columns and indexes, and backfill them.

    Missing tables (the batch ids of 0.2's tables) were made by the caller's
    ``create_all`` just before.

    Args:
        conn: A connection in a transaction (DDL commits by itself on MariaDB).
        tables: The tables of the prefix, just made where missing.
        now_sql: The database clock in seconds, as SQL.
        now_us_sql: The database clock in microseconds, as SQL.
    """
    ses = tables.session
    inspector = sa.inspect(conn)
    have = {column["name"] for column in inspector.get_columns(ses.name)}
    missing = [name for name in SESSION_COLUMNS if name not in have]
    if missing:
        _add_columns(conn, ses, missing)
    indexes = {index["name"] for index in inspector.get_indexes(ses.name)}
    for index in ses.indexes:
        if index.name not in indexes:
            index.create(conn, checkfirst=True)
    # Only the columns of 0.2 (version, updated_at, uid) need values from the
    # rows; the state slot of an existing session is NULL: unset.
    if any(name in _BACKFILLED for name in missing):
        _backfill(conn, ses, now_sql, now_us_sql)


def _add_columns(conn: Connection, ses: sa.Table, names: list[str]) -> None:
    dialect = conn.dialect
    table = dialect.identifier_preparer.format_table(ses)
    # SQLite has no IF NOT EXISTS here (see the module's docstring).
    guard = "" if dialect.name == "sqlite" else "IF NOT EXISTS "
    for name in names:
        column = ses.c[name]
        spec = column.type.compile(dialect=dialect)
        if column.server_default is not None:
            spec += " NOT NULL DEFAULT 0"
        quoted = dialect.identifier_preparer.quote(name)
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {guard}{quoted} {spec}")


def _backfill(conn: Connection, ses: sa.Table, now_sql: str, now_us_sql: str) -> None:
    update = (
        sa.update(ses)
        .where(ses.c.sid == sa.bindparam("b_sid"), ses.c.uid.is_(None))
        .values(
            uid=sa.bindparam("b_uid"),
            version=sa.literal_column(now_us_sql, sa.BigInteger),
            updated_at=sa.literal_column(now_sql, sa.Double),
        )
    )
    while True:
        rows = conn.execute(
            sa.select(ses.c.sid, ses.c.user_id).where(ses.c.uid.is_(None)).limit(_BATCH)
        ).all()
        if not rows:
            return
        conn.execute(update, [{"b_sid": sid, "b_uid": id_digest(user)} for sid, user in rows])
