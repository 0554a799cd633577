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
from tests.sql._schema_0_2 import make_tables_0_2


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


async def write_as_0_2(
    engine: AsyncEngine, old: OldTables, session_id: str, msgs: list[Msg], version: int
) -> None:
    """Store a session as release 0.2 did: its row (version, uid), messages, the first marked."""
    sid = pair_digest("u", session_id)
    await write_as_0_1(engine, old, session_id, msgs, None)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(old.session).values(
                sid=sid,
                user_id="u",
                session_id=session_id,
                summary=dumps("summary of 0.2"),
                version=version,
                updated_at=1.0,
                uid=id_digest("u"),
            )
        )


async def test_a_session_of_release_0_2_keeps_its_version_and_takes_batches_and_state(
    engine: AsyncEngine, prefix: str
) -> None:
    old = make_tables_0_2(prefix)
    async with engine.begin() as conn:
        await conn.run_sync(old.metadata.create_all)
    msgs = [Msg("Ann", f"kept {n}", "user") for n in range(3)]
    await write_as_0_2(engine, old, "s", msgs, version=41)

    memory = AsyncSQLAlchemyMemory(engine, "s", "u", table_prefix=prefix)
    # The first call adds the state column and the batch ids' table; nothing is backfilled.
    assert await memory.version() == 41
    assert view(await memory.get_memory()) == ["summary of 0.2", *view(msgs)]
    assert await memory.get_session_state() is None
    assert "_session_state" not in await memory.export_state()

    added = Msg("Ann", "after the upgrade", "user")
    result = await (
        memory.batch(expect_version=41, batch_id="turn-1")
        .add(added, marks="a")
        .set_session_state({"turn": 1})
        .commit()
    )
    assert result.version == 42
    assert not result.replayed
    again = await memory.batch(expect_version=41, batch_id="turn-1").add(added).commit()
    assert again.replayed
    assert again.version == 42
    assert await memory.get_session_state() == {"turn": 1}
    marked = await memory.get_memory(mark="a", prepend_summary=False)
    assert view(marked) == view([msgs[0], added])
    page = await memory.get_page(limit=2)
    assert view(page.messages) == view([msgs[2], added])
    assert page.has_more
    assert page.version == 42

    # A second engine on the upgraded tables finds nothing left to do.
    url = engine.url.render_as_string(hide_password=False)
    if engine.url.database not in (None, "", ":memory:"):
        other = sql_engine(url)
        try:
            reader = AsyncSQLAlchemyMemory(other, "s", "u", table_prefix=prefix)
            assert await reader.get_session_state() == {"turn": 1}
        finally:
            await other.dispose()


async def test_a_session_of_release_0_1_takes_a_batch_and_state_after_the_upgrade(
    engine: AsyncEngine, prefix: str
) -> None:
    old = make_tables_0_1(prefix)
    async with engine.begin() as conn:
        await conn.run_sync(old.metadata.create_all)
    msgs = [Msg("Ann", f"kept {n}", "user") for n in range(2)]
    await write_as_0_1(engine, old, "bare", msgs, None)

    memory = AsyncSQLAlchemyMemory(engine, "bare", "u", table_prefix=prefix)
    assert await memory.version() == 0  # no row yet: version 0, as before
    result = await (
        memory.batch(expect_version=0, batch_id="b").set_session_state({"k": "v"}).pop().commit()
    )
    assert view([result.results[1]]) == view(msgs[1:])
    assert result.version > 0
    assert await memory.get_session_state() == {"k": "v"}
    assert view(await memory.get_memory()) == view(msgs[:1])
