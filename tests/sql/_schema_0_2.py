"""The tables as release 0.2 made them: a fixture of the upgrade test.

Copied from that release's ``memmark.sql._schema.make_tables``: the session
table has its version, update time and user digest, but no state slot, and
there is no table of applied batch ids.
"""

from __future__ import annotations

import sqlalchemy as sa

from memmark.sql._schema import _TABLE_ARGS, Digest, JSONText, RawText, Seq
from tests.sql._schema_0_1 import OldTables


def make_tables_0_2(prefix: str) -> OldTables:
    """Release 0.2's tables for ``prefix``."""
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
    # PostgreSQL deletes a message's marks by its seq through this index, the
    # only one a "seq = ANY(array)" can use: whatever the statistics say, the
    # planner cannot pick a scan of the session that tests every row against
    # the whole array (see memmark.sql._postgres).
    sa.Index(f"{prefix}mark_seq", mark.c.seq).ddl_if(dialect="postgresql")
    return OldTables(md, session, message, mark)
