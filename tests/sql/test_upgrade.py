"""Tables made by release 0.1 keep working: the first call adds what this release needs."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory
from memmark.sql._codec import dumps
from memmark.sql._schema import id_digest, pair_digest
from tests.backends import sql_engine
from tests.sql._schema_0_1 import OldTables, make_tables_0_1


async def write_as_0_1(
    engine: AsyncEngine, old: OldTables, session_id: str, msgs: list[Msg], summary: str | None
) -> None:
    """Store a session as release 0.1 did: messages, the first one marked, a row for a summary."""
    sid = pair_digest("u", session_id)
    async with engine.begin() as conn:
        for msg in msgs:
            await conn.execute(
                sa.insert(old.message).values(
                    sid=sid, mid=id_digest(msg.id), msg_id=msg.id, msg=dumps(msg.to_dict())
                )
            )
        seq = (
            await conn.execute(
                sa.select(old.message.c.seq).where(old.message.c.mid == id_digest(msgs[0].id))
            )
        ).scalar_one()
        await conn.execute(
            sa.insert(old.mark).values(
                sid=sid, mid=id_digest(msgs[0].id), mk=id_digest("a"), seq=seq, mark="a"
            )
        )
        if summary is not None:
            await conn.execute(
                sa.insert(old.session).values(
                    sid=sid, user_id="u", session_id=session_id, summary=dumps(summary)
                )
            )


def view(msgs: list[Msg]) -> list[Any]:
    return [m.to_dict() if m.name == "Ann" else m.content for m in msgs]


async def test_a_session_of_release_0_1_reads_writes_and_lists_after_the_upgrade(
    engine: AsyncEngine, prefix: str
) -> None:
    old = make_tables_0_1(prefix)
    async with engine.begin() as conn:
        await conn.run_sync(old.metadata.create_all)
    with_row = [Msg("Ann", f"kept {n}", "user") for n in range(3)]
    without_row = [Msg("Ann", f"only messages {n}", "user") for n in range(2)]
    await write_as_0_1(engine, old, "with-row", with_row, "old summary")
    await write_as_0_1(engine, old, "without-row", without_row, None)

    # Several processes start at once on the old tables (one engine each),
    # where they can share the database (an in-memory SQLite cannot).
    url = engine.url.render_as_string(hide_password=False)
    others = (
        [] if engine.url.database in (None, "", ":memory:") else [sql_engine(url) for _ in range(2)]
    )
    try:
        sizes = await asyncio.gather(
            *(
                AsyncSQLAlchemyMemory(e, "with-row", "u", table_prefix=prefix).size()
                for e in [engine, *others]
            )
        )
    finally:
        for other in others:
            await other.dispose()
    assert sizes == [3] * (1 + len(others))

    memory = AsyncSQLAlchemyMemory(engine, "with-row", "u", table_prefix=prefix)
    assert view(await memory.get_memory()) == ["old summary", *view(with_row)]
    assert view(await memory.get_memory(mark="a", prepend_summary=False)) == view(with_row[:1])
    before = await memory.version()
    assert before > 0  # backfilled
    listed = (await memory.list_sessions()).sessions
    assert [(s.session_id, s.size) for s in listed] == [("with-row", 3)]

    added = Msg("Ann", "after the upgrade", "user")
    await memory.add(added, marks="a")
    assert await memory.version() > before
    marked = await memory.get_memory(mark="a", prepend_summary=False)
    assert view(marked) == view([with_row[0], added])

    # A session without a row gets one, and a version, from its first write.
    bare = AsyncSQLAlchemyMemory(engine, "without-row", "u", table_prefix=prefix)
    assert view(await bare.get_memory()) == view(without_row)
    assert await bare.version() == 0
    await bare.update_compressed_summary("now listed")
    assert await bare.version() > 0
    listed = (await memory.list_sessions()).sessions
    assert [(s.session_id, s.size) for s in listed] == [("without-row", 2), ("with-row", 4)]
    assert view(await bare.get_memory()) == ["now listed", *view(without_row)]
