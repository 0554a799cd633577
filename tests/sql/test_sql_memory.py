"""Backend-specific tests of AsyncSQLAlchemyMemory on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from memmark.core import DuplicateMessageError, Msg
from memmark.sql import AsyncSQLAlchemyMemory, make_metadata, metadata
from tests.backends import id_params

Make = Callable[..., AsyncSQLAlchemyMemory]


def msg(content: Any, msg_id: str | None = None) -> Msg:
    m = Msg("tester", content, "user")
    if msg_id is not None:
        m.id = msg_id
    return m


class StatementLog:
    """Every statement the engine sends, via the ``before_cursor_execute`` event."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.sync_engine
        self.statements: list[str] = []

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(" ".join(statement.split()).upper())

    def __enter__(self) -> StatementLog:
        sa.event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)


# -- schema ------------------------------------------------------------------------


def test_metadata_for_alembic() -> None:
    assert sorted(metadata.tables) == [
        "memmark_batch",
        "memmark_mark",
        "memmark_message",
        "memmark_session",
    ]
    custom = make_metadata("app_")
    assert sorted(custom.tables) == ["app_batch", "app_mark", "app_message", "app_session"]
    message = custom.tables["app_message"]
    assert [c.name for c in message.primary_key] == ["seq"]
    uniques = [c for c in message.constraints if isinstance(c, sa.UniqueConstraint)]
    assert [[col.name for col in u.columns] for u in uniques] == [["sid", "mid"]]
    mark = custom.tables["app_mark"]
    assert [c.name for c in mark.primary_key] == ["sid", "mid", "mk"]
    indexes = {tuple(c.name for c in i.columns): i for i in mark.indexes}
    assert set(indexes) == {("sid", "mk", "seq"), ("seq",)}
    # The seq index serves only PostgreSQL's deletes: no other database creates it.
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        custom.create_all(conn)
        made = {i["name"] for i in sa.inspect(conn).get_indexes("app_mark")}
    assert made == {"app_mark_sid_mk_seq"}


def test_bad_constructor_arguments() -> None:
    with pytest.raises(TypeError, match="engine_or_session"):
        AsyncSQLAlchemyMemory("sqlite://")  # type: ignore[arg-type]
    engine = sa.ext.asyncio.create_async_engine("sqlite+aiosqlite://")
    with pytest.raises(TypeError, match="user_id"):
        AsyncSQLAlchemyMemory(engine, user_id=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="table_prefix"):
        AsyncSQLAlchemyMemory(engine, table_prefix=None)  # type: ignore[arg-type]
    memory = AsyncSQLAlchemyMemory(engine)
    assert (memory.user_id, memory.session_id) == ("default_user", "default_session")
    # Empty ids are ids, not "use the default".
    assert AsyncSQLAlchemyMemory(engine, session_id="", user_id="").session_id == ""


# -- DDL once per engine; the FastAPI pattern costs nothing extra ------------------------


async def test_memory_per_request_issues_no_ddl(engine: AsyncEngine, prefix: str) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as db:  # the first request of the process creates the tables
        await AsyncSQLAlchemyMemory(db, "s", "u", table_prefix=prefix).size()
    for request in range(3):
        with StatementLog(engine) as log:
            async with sessions() as db:
                memory = AsyncSQLAlchemyMemory(db, "s", "u", table_prefix=prefix)
                await memory.add(msg(f"request {request}"), marks="hint")
                got = await memory.get_memory(mark="hint")
                await db.commit()
        assert [m.content for m in got] == [f"request {i}" for i in range(request + 1)]
        ddl = [s for s in log.statements if s.split()[0] in ("CREATE", "ALTER", "DROP", "PRAGMA")]
        catalog = [s for s in log.statements if "INFORMATION_SCHEMA" in s or "PG_CATALOG" in s]
        assert ddl == []
        assert catalog == []
        # The add (after the session's lock) and the read, plus at most the
        # transaction's own BEGIN/COMMIT.
        work = [s for s in log.statements if s.split()[0] not in ("BEGIN", "COMMIT", "ROLLBACK")]
        assert len(work) <= 4, log.statements


async def test_tables_made_once_across_memories(engine: AsyncEngine, prefix: str) -> None:
    with StatementLog(engine) as log:
        for i in range(5):
            await AsyncSQLAlchemyMemory(engine, f"s{i}", table_prefix=prefix).add(msg("x"))
    creates = [s for s in log.statements if s.startswith("CREATE TABLE")]
    assert len(creates) == 4  # session, message, mark, batch


# -- transactions with a caller's AsyncSession ------------------------------------


async def test_session_write_commits_and_session_stays_open(
    engine: AsyncEngine, memory_on: Make, prefix: str
) -> None:
    async with AsyncSession(engine) as db:
        memory = AsyncSQLAlchemyMemory(db, "s", "u", table_prefix=prefix)
        await memory.add(msg("committed", "1"))
        await memory.close()
        # Seen from another connection: the write was committed.
        assert [m.content for m in await memory_on("u", "s").get_memory()] == ["committed"]
        # close() left the caller's session usable.
        assert (await db.execute(sa.text("SELECT 1"))).scalar_one() == 1


async def test_failed_write_in_callers_transaction_undoes_only_itself(
    engine: AsyncEngine, memory_on: Make, prefix: str
) -> None:
    probe = memory_on("u", "probe")
    await probe.add(msg("old", "x"))
    async with AsyncSession(engine) as db:
        caller = AsyncSQLAlchemyMemory(db, "probe", "u", table_prefix=prefix)
        mine = AsyncSQLAlchemyMemory(db, "s", "u", table_prefix=prefix)
        await caller.size()  # the caller's transaction is open
        await db.execute(
            make_metadata(prefix).tables[f"{prefix}session"].insert(),
            {"sid": b"\x01" * 32, "user_id": "x", "session_id": "y", "summary": '"pending"'},
        )
        with pytest.raises(DuplicateMessageError):
            await mine.add([msg("new", "n"), msg("dup", "n")], skip_duplicated=False)
        with pytest.raises(DuplicateMessageError):
            await caller.add([msg("again", "x")], skip_duplicated=False)
        assert db.in_transaction()  # the caller's work survived both failures
        await mine.add(msg("ok", "k"))  # joins the caller's transaction, not committed
        assert db.in_transaction()
        await db.commit()  # the caller's commit: its pending row and our message
    async with engine.connect() as conn:
        table = make_metadata(prefix).tables[f"{prefix}session"]
        pending = sa.select(sa.func.count()).where(table.c.sid == b"\x01" * 32)
        assert (await conn.execute(pending)).scalar() == 1  # the caller's row was committed
    assert [m.content for m in await memory_on("u", "s").get_memory()] == ["ok"]
    assert [m.content for m in await probe.get_memory()] == ["old"]


async def test_engine_is_not_disposed_by_close(engine: AsyncEngine, memory_on: Make) -> None:
    async with memory_on() as memory:
        await memory.add(msg("a"))
    async with engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1


# -- concurrency ------------------------------------------------------------------


async def test_parallel_adds_on_one_session_object(engine: AsyncEngine, prefix: str) -> None:
    async with AsyncSession(engine) as db:
        memory = AsyncSQLAlchemyMemory(db, "s", "u", table_prefix=prefix)
        batches = [[msg(f"{b}-{i}", f"{b}-{i}") for i in range(5)] for b in range(20)]
        await asyncio.gather(*(memory.add(batch, marks=f"b{b}") for b, batch in enumerate(batches)))
        # Overlapping ids from parallel calls: each lands once.
        await asyncio.gather(*(memory.add(batches[0]) for _ in range(5)))
        assert await memory.size() == 100
        for b, batch in enumerate(batches):
            got = await memory.get_memory(mark=f"b{b}")
            assert [m.id for m in got] == [m.id for m in batch]


SERVER_BACKENDS = id_params("sqlite", "postgres", "mariadb")


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
async def test_eight_processes_add_to_one_session(
    engine: AsyncEngine, prefix: str, memory_on: Make, tmp_path: Path, backend: str
) -> None:
    memory = memory_on("user", "session")
    await memory.size()  # tables exist before the writers start
    writers, batches, size = 8, 6, 10
    url = engine.url.render_as_string(hide_password=False)
    script = Path(__file__).with_name("_writer.py")
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            url,
            prefix,
            str(w),
            str(batches),
            str(size),
            stderr=subprocess.PIPE,
        )
        for w in range(writers)
    ]
    for proc in procs:
        _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, err.decode()
    got = await memory.get_memory()
    ids = [m.id for m in got]
    assert len(ids) == len(set(ids))  # nothing duplicated
    own = [m for m in got if not m.id.startswith("shared-")]
    assert len(own) == writers * batches * size  # nothing lost
    for w in range(writers):
        mine = [int(str(m.content).split(":")[1]) for m in own if m.id.startswith(f"w{w}-")]
        assert mine == list(range(batches * size))  # each writer's order kept
        assert [m.id for m in await memory.get_memory(mark=f"m{w}")] == [
            m.id for m in got if str(m.content).startswith(f"{w}:")
        ]
    # A contested id carries the marks of the writer whose message won, only.
    state = await memory.export_state()
    for data, marks in state["content"]:
        if data["id"].startswith("shared-"):
            assert marks == [f"m{data['content'].split(':')[0]}"]


# -- content and ids --------------------------------------------------------------


async def test_content_round_trips(memory_on: Make) -> None:
    memory = memory_on()
    big = "é🙂x" * 350_000  # > 1 MB of UTF-8
    blocks = [{"type": "text", "text": "nul \x00 inside"}, {"type": "data", "raw": "\x00\x01"}]
    originals = [
        msg("nul \x00 byte", "1"),
        msg("emoji 🙂👩‍👩‍👧 and \u2028 line sep", "2"),
        msg(big, "3"),
        msg(blocks, "4"),
    ]
    originals[0].metadata = {"k\x00": "v\x00"}
    await memory.add(originals)
    await memory.update_compressed_summary("summary with \x00 and 🙂")
    got = await memory.get_memory()
    assert got[0].content == "summary with \x00 and 🙂"
    assert [m.to_dict() for m in got[1:]] == [m.to_dict() for m in originals]


async def test_nul_in_ids(backend: str, memory_on: Make, engine: AsyncEngine) -> None:
    memory = memory_on()
    if backend != "postgres":
        await memory.add(msg("a", "a\x00b"), marks="m\x00")
        assert [m.id for m in await memory.get_memory(mark="m\x00")] == ["a\x00b"]
        return
    with pytest.raises(ValueError, match="memories: PostgreSQL text cannot hold NUL"):
        await memory.add(msg("a", "a\x00b"))
    with pytest.raises(ValueError, match="marks: PostgreSQL"):
        await memory.add(msg("a", "ok"), marks="m\x00")
    with pytest.raises(ValueError, match="user_id: PostgreSQL"):
        AsyncSQLAlchemyMemory(engine, user_id="u\x00")
    assert await memory.size() == 0
    # Reading or deleting what cannot be stored finds nothing, without error.
    assert await memory.get_memory(mark="m\x00") == []
    assert await memory.delete("a\x00b") == 0


async def test_wildcards_case_and_spaces_never_meet(memory_on: Make) -> None:
    ids = ["a", "A", "a ", " a", "%", "_", "a%", "a_", "\\", "a\\_", "é", "e\u0301"]
    memory = memory_on()
    await memory.add([msg(i, i) for i in ids])
    for i in ids:
        await memory.update_messages_mark(i, msg_ids=[i])
    for i in ids:
        assert [m.id for m in await memory.get_memory(mark=i)] == [i]
    assert await memory.delete_by_mark("%") == 1
    assert await memory.delete_by_mark(["_", "a"]) == 2
    assert await memory.delete(["A", "a\\_"]) == 2
    assert [m.id for m in await memory.get_memory()] == [
        "a ",
        " a",
        "a%",
        "a_",
        "\\",
        "é",
        "e\u0301",
    ]
    # Sessions differing only by case or a trailing space are apart too.
    for s in ("S", "s ", "s"):
        await memory_on("v", s).add(msg(s, "same"))
    for s in ("S", "s ", "s"):
        assert [m.content for m in await memory_on("v", s).get_memory()] == [s]


async def test_large_calls_are_chunked(memory_on: Make) -> None:
    memory = memory_on()
    many = [msg(f"m{i}", f"id-{i}") for i in range(12_000)]
    await memory.add(many, marks=["a", "b", "c"])
    assert await memory.size() == 12_000
    assert await memory.update_messages_mark("d", msg_ids=[m.id for m in many[::2]]) == 6_000
    assert await memory.delete([m.id for m in many[:7_000]]) == 7_000
    assert await memory.delete_by_mark("d") == 2_500
    assert len(await memory.get_memory(mark="a")) == 2_500


# -- PostgreSQL: the hot calls on asyncpg under the pooled connection ---------------

PG_ONLY = id_params("postgres")


@pytest.mark.parametrize("backend", PG_ONLY)
async def test_pg_connect_hook_transaction_does_not_swallow_writes(
    engine: AsyncEngine, memory_on: Make
) -> None:
    # A "connect" hook running a statement through the DBAPI cursor leaves a
    # transaction open on each new connection; writes must still be committed.
    @sa.event.listens_for(engine.sync_engine, "connect")
    def _setup(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET application_name = 'memmark-test'")
        cursor.close()

    async def one(i: int) -> int:
        memory = memory_on("u", f"hook-{i}")
        await memory.add(msg(f"m{i}"), "k")
        return await memory.size()

    assert await asyncio.gather(*(one(i) for i in range(16))) == [1] * 16
    await engine.dispose()  # fresh connections, so the hook runs again
    assert [await memory_on("u", f"hook-{i}").size() for i in range(16)] == [1] * 16


@pytest.mark.parametrize("backend", PG_ONLY)
async def test_pg_failed_and_cancelled_calls_return_their_connection(
    engine: AsyncEngine, memory_on: Make
) -> None:
    memory = memory_on()
    await memory.add([msg("a", "a"), msg("b", "b")], marks="m")
    with pytest.raises(DuplicateMessageError):
        await memory.add([msg("c", "c"), msg("a2", "a")], skip_duplicated=False)
    assert [m.id for m in await memory.get_memory()] == ["a", "b"]  # c rolled back too
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    for delay in (0, 0.0005, 0.002):
        task = asyncio.create_task(memory.delete_by_mark("m"))
        await asyncio.sleep(delay)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # a quick delete may have finished before the cancel
        got = await memory.get_memory(mark="m")
        # Whole or absent: the marks go with their messages, never apart.
        assert [m.id for m in got] in (["a", "b"], [])
        assert [m.id for m in await memory.get_memory()] == [m.id for m in got]
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        if not got:
            await memory.add([msg("a", "a"), msg("b", "b")], marks="m")


@pytest.mark.parametrize("backend", PG_ONLY)
async def test_pg_reads_are_ordered_with_summary_and_filters(memory_on: Make) -> None:
    memory = memory_on()
    await memory.add([msg(f"m{i}", f"id{i}") for i in range(6)])
    await memory.update_messages_mark("even", msg_ids=["id0", "id2", "id4"])
    await memory.update_messages_mark("x", msg_ids=["id2", "id3"])
    await memory.update_compressed_summary("sum")
    got = await memory.get_memory(mark="even", exclude_mark="x", limit=1)
    assert [m.content for m in got] == ["sum", "m4"]
    got = await memory.get_memory(exclude_mark="x", prepend_summary=False, limit=3)
    assert [m.content for m in got] == ["m1", "m4", "m5"]
    assert [m.content for m in await memory.get_memory(mark="even")] == ["sum", "m0", "m2", "m4"]
    assert memory.state_dict() == {"_compressed_summary": "sum"}
