"""The tables as release 0.1 made them: the fixture of the upgrade test.

Copied from that release's ``memmark.sql._schema.make_tables`` (the column
types themselves have not changed since).
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa

from memmark.sql._schema import _TABLE_ARGS, Digest, JSONText, RawText, Seq


class OldTables(NamedTuple):
    """The tables of an earlier release (no table of batch ids)."""

    metadata: sa.MetaData
    session: sa.Table
    message: sa.Table
    mark: sa.Table


def make_tables_0_1(prefix: str) -> OldTables:
    """Release 0.1's tables for ``prefix``."""
    md = sa.MetaData()
    session = sa.Table(
        f"{prefix}session",
        md,
        sa.Column("sid", Digest, primary_key=True),
        sa.Column("user_id", RawText, nullable=False),
        sa.Column("session_id", RawText, nullable=False),
        sa.Column("summary", JSONText(), nullable=False),
        **_TABLE_ARGS,
    )
    message = sa.Table(
        f"{prefix}message",
        md,
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("sid", Digest, nullable=False),
        sa.Column("mid", Digest, nullable=False),
        sa.Column("msg_id", RawText, nullable=False),
        sa.Column("msg", JSONText(), nullable=False),
        sa.UniqueConstraint("sid", "mid", name=f"{prefix}message_sid_mid"),
        sa.Index(f"{prefix}message_sid_seq", "sid", "seq"),
        **_TABLE_ARGS,
    )
    mark = sa.Table(
        f"{prefix}mark",
        md,
        sa.Column("sid", Digest, primary_key=True),
        sa.Column("mid", Digest, primary_key=True),
        sa.Column("mk", Digest, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("mark", RawText, nullable=False),
        sa.Index(f"{prefix}mark_sid_mk_seq", "sid", "mk", "seq"),
        **_TABLE_ARGS,
    )
    sa.Index(f"{prefix}mark_seq", mark.c.seq).ddl_if(dialect="postgresql")
    return OldTables(md, session, message, mark)
