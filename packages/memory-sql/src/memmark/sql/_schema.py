"""The tables, as SQLAlchemy ``MetaData`` (usable from Alembic).

Every key column is a fixed-size SHA-256 digest, never the id itself, so:

* ids compare byte-exactly on every database, whatever the collation (no case
  folding, no trailing-space equality, no Unicode normalisation);
* a key is 32 bytes however long the id is, so 10 KB ids never hit an index
  length limit;
* ids are never part of SQL syntax (no ``LIKE``, no string concatenation).

The raw ids are kept next to the digests, in plain text columns, so people
and tools can read the tables.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Dialect

DEFAULT_PREFIX = "memmark_"

_MYSQL = ("mysql", "mariadb")


class JSONText(sa.types.TypeDecorator[str]):
    r"""A JSON column that the memory reads and writes as JSON text.

    The column is ``JSON`` on PostgreSQL (``json``, not ``jsonb``: it keeps the
    text as written and accepts ``\u0000``) and on MySQL/MariaDB, ``TEXT``
    elsewhere. Values go in as ``str`` already encoded by the memory, which
    owns the JSON fast path; SQLAlchemy's own JSON processing is switched off
    so nothing is encoded twice. (PostgreSQL's driver may still hand back
    decoded values; the memory accepts both.)
    """

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        """Return ``JSON`` where the database has it, ``TEXT`` otherwise."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSON())
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.JSON())
        return dialect.type_descriptor(sa.Text())

    def bind_processor(self, dialect: Dialect) -> None:
        """Pass values through: they are JSON text already."""
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        """Pass values through: the memory decodes them."""
        return None


# 32-byte digests: BYTEA / BLOB, and a fixed BINARY(32) on MySQL so that the
# key is compared as bytes (no pad, no collation).
Digest = sa.LargeBinary(32).with_variant(mysql.BINARY(32), *_MYSQL)
# MEDIUMTEXT on MySQL: TEXT holds 64 KB, and a 10 KB id of 4-byte characters
# must fit with room to spare. The binary collation keeps the raw text exact.
RawText = sa.Text().with_variant(mysql.MEDIUMTEXT(collation="utf8mb4_bin"), *_MYSQL)
# SQLite only auto-assigns an INTEGER PRIMARY KEY (the rowid).
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_TABLE_ARGS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


@dataclass(frozen=True)
class Tables:
    """The four tables of one prefix.

    Attributes:
        metadata: The ``MetaData`` holding them (give it to Alembic).
        session: One row per ``(user_id, session_id)`` written: its summary,
            version and last write.
        message: One row per message, ordered by ``seq``.
        mark: One row per (message, mark).
        batch: One row per batch id a session applied (kept until the
            session is deleted), so a batch sent again applies once.
    """

    metadata: sa.MetaData
    session: sa.Table
    message: sa.Table
    mark: sa.Table
    batch: sa.Table


def make_tables(prefix: str = DEFAULT_PREFIX) -> Tables:
    """Return new tables named ``{prefix}session``, ``message``, ``mark`` and ``batch``.

    Args:
        prefix: Put before every table and index name.

    Returns:
        The tables, in a ``MetaData`` of their own.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"table_prefix: expected a str, got {type(prefix).__name__}")
    md = sa.MetaData()
    session = sa.Table(
        f"{prefix}session",
        md,
        # sid: sha256 of the length-prefixed (user_id, session_id), see pair_digest.
        sa.Column("sid", Digest, primary_key=True),
        sa.Column("user_id", RawText, nullable=False),
        sa.Column("session_id", RawText, nullable=False),
        # The summary as a JSON string: JSON escapes NUL, which a PostgreSQL
        # text column cannot hold.
        sa.Column("summary", JSONText(), nullable=False),
        # Moved on by every write, in the write's transaction; a new row
        # starts at the database clock in microseconds, so a session deleted
        # and made again never repeats a version (see SESSION_COLUMNS).
        sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
        # The last write, in seconds since the epoch by the database clock.
        sa.Column("updated_at", sa.Double, nullable=False, server_default="0"),
        # sha256 of user_id: a user's sessions by index (raw text cannot be
        # indexed on MariaDB). Nullable only for rows an upgrade backfills.
        sa.Column("uid", Digest, nullable=True),
        # The session state slot: a JSON document as the core encoded it,
        # NULL when unset. Kept by clear, removed with the row.
        sa.Column("state", JSONText(), nullable=True),
        sa.Index(f"{prefix}session_uid_updated", "uid", "updated_at"),
        sa.Index(f"{prefix}session_updated", "updated_at"),
        **_TABLE_ARGS,
    )
    message = sa.Table(
        f"{prefix}message",
        md,
        # Order comes from the database, never from a counter read first.
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("sid", Digest, nullable=False),
        sa.Column("mid", Digest, nullable=False),  # sha256 of msg_id
        sa.Column("msg_id", RawText, nullable=False),
        sa.Column("msg", JSONText(), nullable=False),  # Msg.to_dict() as JSON
        # Stops duplicates without a read before the write.
        sa.UniqueConstraint("sid", "mid", name=f"{prefix}message_sid_mid"),
        sa.Index(f"{prefix}message_sid_seq", "sid", "seq"),
        **_TABLE_ARGS,
    )
    mark = sa.Table(
        f"{prefix}mark",
        md,
        sa.Column("sid", Digest, primary_key=True),
        sa.Column("mid", Digest, primary_key=True),
        sa.Column("mk", Digest, primary_key=True),  # sha256 of mark
        # The message's seq, copied, so a read by mark walks one index in order.
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("mark", RawText, nullable=False),
        sa.Index(f"{prefix}mark_sid_mk_seq", "sid", "mk", "seq"),
        **_TABLE_ARGS,
    )
    batch = sa.Table(
        f"{prefix}batch",
        md,
        sa.Column("sid", Digest, primary_key=True),
        sa.Column("bid", Digest, primary_key=True),  # sha256 of the batch id
        sa.Column("batch_id", RawText, nullable=False),
        # When it was applied, in seconds since the epoch by the database clock.
        sa.Column("applied_at", sa.Double, nullable=False, server_default="0"),
        **_TABLE_ARGS,
    )
    # PostgreSQL deletes a message's marks by its seq through this index, the
    # only one a "seq = ANY(array)" can use: whatever the statistics say, the
    # planner cannot pick a scan of the session that tests every row against
    # the whole array (see memmark.sql._postgres).
    sa.Index(f"{prefix}mark_seq", mark.c.seq).ddl_if(dialect="postgresql")
    return Tables(md, session, message, mark, batch)


SESSION_COLUMNS = ("version", "updated_at", "uid", "state")
"""The session table's columns that tables of earlier releases lack (added on upgrade).

Release 0.1 lacks all of them; release 0.2 only ``state``.
"""


def make_metadata(prefix: str = DEFAULT_PREFIX) -> sa.MetaData:
    """Return the ``MetaData`` of the tables for ``prefix``, e.g. for Alembic.

    Args:
        prefix: The ``table_prefix`` the memories use.
    """
    return make_tables(prefix).metadata


metadata: sa.MetaData = make_metadata()
"""The tables with the default prefix ``memmark_`` (Alembic's ``target_metadata``)."""


def _utf8(text: str) -> bytes:
    # surrogatepass: a lone surrogate still gets a digest of its own.
    return text.encode("utf-8", "surrogatepass")


def id_digest(value: str) -> bytes:
    """Return the 32-byte key of a message id or a mark."""
    return hashlib.sha256(_utf8(value)).digest()


def pair_digest(user_id: str, session_id: str) -> bytes:
    """Return the 32-byte key of ``(user_id, session_id)``.

    The user id is length-prefixed, so no two pairs share an encoding
    (``("a:b", "c")`` and ``("a", "b:c")`` differ).
    """
    user = _utf8(user_id)
    return hashlib.sha256(len(user).to_bytes(8, "big") + user + _utf8(session_id)).digest()
