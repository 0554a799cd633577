"""Versions, listing, deletion and the message cache on every SQL backend."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from memmark.core import Msg
from memmark.core.cache import MessageCache
from memmark.sql import AsyncSQLAlchemyMemory
from tests.backends import id_params

Make = Callable[..., AsyncSQLAlchemyMemory]


@pytest.fixture
def make(engine: AsyncEngine, prefix: str) -> Make:
    """Memories on the test's tables; each cache stands for one process."""

    def made(
        cache: MessageCache | bool, session_id: str = "s", user_id: str = "u"
    ) -> AsyncSQLAlchemyMemory:
        return AsyncSQLAlchemyMemory(
            engine,
            session_id=session_id,
            user_id=user_id,
            table_prefix=prefix,
            message_cache=cache,
        )

    return made


def msg(text: str) -> Msg:
    return Msg("Ann", [{"type": "text", "text": text}], "user", metadata={"k": [1, 2]})


def view(msgs: list[Msg]) -> list[dict[str, Any]]:
    # The summary's message is made afresh by each read (a new id and time).
    return [m.to_dict() if m.name == "Ann" else {"summary": m.content} for m in msgs]


READS: list[dict[str, Any]] = [
    {},
    {"exclude_mark": "hint"},
    {"mark": "hint"},
    {"mark": "a", "exclude_mark": "hint"},
    {"limit": 2},
    {"exclude_mark": "hint", "limit": 3},
    {"prepend_summary": False},
]


async def test_each_write_moves_the_version_on_and_a_deleted_session_never_repeats_one(
    make: Make,
) -> None:
    memory = make(MessageCache())
    assert await memory.version() == 0
    first = msg("one")
    await memory.add(first, marks="a")
    seen = [await memory.version()]
    for write in (
        memory.add(first),  # already stored: still a write
        memory.delete(["nothing"]),
        memory.update_messages_mark("b"),
        memory.update_compressed_summary("sum"),
        memory.delete_by_mark("zzz"),
        memory.clear(),
        memory.import_state({"content": [[first.to_dict(), ["a"]]]}),
    ):
        await write
        seen.append(await memory.version())
    assert seen == sorted(set(seen)), seen
    assert await memory.delete_session()
    assert await memory.version() == 0
    assert not await memory.delete_session()
    await memory.add(msg("again"))
    assert await memory.version() not in seen


class _CoarseClock:
    """SQLite's ``julianday``, one millisecond on every ``per_tick`` reads.

    A fast machine writes several times within one tick of SQLite's clock
    (a millisecond); this one does so on every machine.
    """

    def __init__(self, per_tick: int) -> None:
        self.per_tick = per_tick
        self.reads = 0
        self.set_back_ms = 0

    def __call__(self, _: object) -> float:
        self.reads += 1
        return 2461000.5 + (self.reads // self.per_tick - self.set_back_ms) / 86_400_000


def coarse_clock(engine: AsyncEngine, per_tick: int) -> _CoarseClock:
    """Give every new connection of ``engine`` (SQLite) a :class:`_CoarseClock`."""
    clock = _CoarseClock(per_tick)

    @event.listens_for(engine.sync_engine, "connect")
    def install(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.create_function("julianday", 1, clock)

    return clock


@pytest.mark.parametrize("backend", id_params("sqlite"))
async def test_a_session_deleted_and_written_again_within_one_clock_tick_repeats_no_version(
    engine: AsyncEngine, make: Make
) -> None:
    clock = coarse_clock(engine, per_tick=50)
    ours, theirs = make(MessageCache()), make(MessageCache())
    await theirs.version()  # the tables, before the clock starts
    clock.reads = 0
    before, after = msg("before"), msg("after")
    await theirs.add(before)
    assert view(await ours.get_memory()) == view([before])  # held from here on
    held = await ours.version()
    await theirs.delete_session()
    await theirs.add(after)
    assert await ours.version() > held
    assert view(await ours.get_memory()) == view([after])


@pytest.mark.parametrize("backend", id_params("sqlite"))
async def test_delete_session_waits_for_no_clock_set_back(engine: AsyncEngine, make: Make) -> None:
    clock = coarse_clock(engine, per_tick=1)  # a millisecond on every read
    memory = make(MessageCache())
    await memory.add(msg("before"))
    clock.set_back_ms = 1_000
    reads = clock.reads
    assert await memory.delete_session()
    # Waiting for the clock to pass the version would read it a thousand times.
    assert clock.reads - reads < 10
    assert await memory.version() == 0


async def test_a_second_process_s_writes_are_seen_by_a_held_session(make: Make) -> None:
    ours, theirs = make(MessageCache()), make(MessageCache())
    kept = [msg(f"m{n}") for n in range(4)]
    await ours.add(kept, marks="a")
    assert len(await ours.get_memory()) == 4  # held from here on
    steps = [
        lambda: theirs.add(msg("new"), marks="hint"),
        lambda: theirs.update_messages_mark("b", msg_ids=[kept[0].id]),
        lambda: theirs.update_compressed_summary("their summary"),
        lambda: theirs.delete([kept[1].id]),
        lambda: theirs.delete_by_mark("hint"),
        lambda: theirs.import_state({"content": [[kept[2].to_dict(), ["a", "c"]]]}),
        lambda: theirs.clear(),
        lambda: theirs.delete_session(),
        lambda: theirs.add(msg("after the delete")),
    ]
    for step in steps:
        await step()
        fresh = make(False)
        for read in READS:
            assert view(await ours.get_memory(**read)) == view(await fresh.get_memory(**read))
        assert await ours.size() == await fresh.size()


async def test_the_cache_on_or_off_gives_the_same_results(make: Make) -> None:
    """One random walk through two processes' handles, each read made cached and uncached."""
    rng = random.Random(7)
    cache_a, cache_b = MessageCache(), MessageCache()
    writers = [make(cache_a), make(cache_b), make(False)]
    ids: list[str] = []
    for step in range(60):
        writer = rng.choice(writers)
        kind = rng.choice(["add", "add", "delete", "by_mark", "remark", "summary", "clear"])
        if kind == "add":
            new = [msg(f"{step}.{n}") for n in range(rng.randint(1, 3))]
            ids += [m.id for m in new]
            await writer.add(new, marks=rng.choice([None, "a", "hint", ["a", "hint"]]))
        elif kind == "delete" and ids:
            await writer.delete(rng.sample(ids, min(2, len(ids))))
        elif kind == "by_mark":
            await writer.delete_by_mark(rng.choice(["a", "hint"]))
        elif kind == "remark" and ids:
            await writer.update_messages_mark(
                rng.choice([None, "a", "b"]),
                rng.choice([None, "a", "hint"]),
                rng.choice([None, rng.sample(ids, min(3, len(ids)))]),
            )
        elif kind == "summary":
            await writer.update_compressed_summary(f"summary {step}")
        elif kind == "clear" and rng.random() < 0.2:
            await writer.clear()
        read = rng.choice(READS)
        expected = view(await make(False).get_memory(**read))
        for reader in (make(cache_a), make(cache_b)):
            assert view(await reader.get_memory(**read)) == expected, (step, kind, read)
            assert await reader.size() == await make(False).size()


async def test_messages_handed_out_are_the_cache_s_and_lists_are_new(make: Make) -> None:
    cache = MessageCache()
    memory = make(cache)
    added = msg("one")
    await memory.add(added)
    added.content = "changed by the caller after the add"
    first = await memory.get_memory()
    second = await memory.get_memory()
    assert first == second
    assert first is not second
    assert first[0] is second[0]  # shared, read-only
    assert first[0].content == [{"type": "text", "text": "one"}]
    first.clear()
    assert len(await memory.get_memory()) == 1


async def test_the_listing_pages_through_every_session_in_the_listing_order(make: Make) -> None:
    names = ["b", "a", "é", "a ", "A", "z" * 300]
    for name in names:
        await make(False, session_id=name).add(msg(name))
    await make(False, session_id="x", user_id="other").add(msg("other"))
    memory = make(False)
    walked, cursor = [], None
    while True:
        page = await memory.list_sessions(limit=2, cursor=cursor)
        walked += page.sessions
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(s.session_id for s in walked) == sorted(names)
    assert [s.key for s in walked] == sorted(
        (s.key for s in walked), key=lambda k: (-k[0], k[1], k[2])
    )
    assert all(s.size == 1 and s.version > 0 for s in walked)
    everyone = await memory.list_sessions(all_users=True, limit=100)
    assert {s.user_id for s in everyone.sessions} == {"u", "other"}
    await make(False, session_id="a").delete_session()
    left = await memory.list_sessions(limit=100)
    assert "a" not in {s.session_id for s in left.sessions}


# -- what a cached read reads ------------------------------------------------------


class Statements:
    """Every statement an engine runs: Core's, and asyncpg's under the pool."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.seen: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._core)
        event.listen(engine.sync_engine, "connect", self._connected)

    def _core(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seen.append(statement)

    def _connected(self, dbapi_connection: Any, _record: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if hasattr(driver, "add_query_logger"):  # asyncpg, whose text skips Core
            driver.add_query_logger(lambda record: self.seen.append(record.query))

    async def take(self) -> list[str]:
        # asyncpg calls its query loggers soon after the query, not during it.
        for _ in range(3):
            await asyncio.sleep(0)
        seen, self.seen = self.seen, []
        return seen


async def test_a_read_of_a_held_session_reads_only_the_session_row(
    engine: AsyncEngine, prefix: str
) -> None:
    statements = Statements(engine)  # before the engine's first connection
    made = [
        AsyncSQLAlchemyMemory(engine, "s", "u", table_prefix=prefix, message_cache=cache)
        for cache in (MessageCache(), MessageCache())
    ]
    memory, other = made
    await memory.add([msg(f"m{n}") for n in range(20)], marks="a")
    await memory.add(msg("hint"), marks="hint")
    await memory.get_memory()  # held from here on
    await statements.take()
    for read in READS:
        await memory.get_memory(**read)
        await memory.size()
    seen = await statements.take()
    assert len(seen) == 2 * len(READS), seen
    for statement in seen:
        assert f"{prefix}session" in statement, statement
        assert f"{prefix}message" not in statement, statement
        assert f"{prefix}mark" not in statement, statement
    # size() has no use for the summary, which may be long: the version alone.
    await memory.update_compressed_summary("a summary " * 100)
    await memory.get_memory()
    await statements.take()
    assert await memory.size() == 21
    (sized,) = await statements.take()
    assert f"{prefix}session" in sized, sized
    assert "summary" not in sized, sized
    await other.add(msg("from another process"))
    await statements.take()
    assert await memory.size() == 22  # another writer's version: counted afresh
    assert any(f"{prefix}message" in statement for statement in await statements.take())
    assert len(await memory.get_memory(prepend_summary=False)) == 22
    assert any(f"{prefix}message" in statement for statement in await statements.take())


async def test_a_message_cache_that_is_neither_a_flag_nor_a_cache_is_refused(
    engine: AsyncEngine, prefix: str
) -> None:
    with pytest.raises(TypeError, match="message_cache"):
        AsyncSQLAlchemyMemory(engine, table_prefix=prefix, message_cache="yes")  # type: ignore[arg-type]


async def test_delete_session_racing_the_add_that_makes_the_session_keeps_it_whole_or_none(
    make: Make,
) -> None:
    # Each round: the session does not exist; one handle adds (making it)
    # while another deletes it. Afterwards the session is gone entirely, or
    # holds exactly the add: never a listed session that lost the add.
    for n in range(40):
        adder, deleter, fresh = (
            make(MessageCache(), f"s{n}"),
            make(False, f"s{n}"),
            make(False, f"s{n}"),
        )
        added = [msg(f"{n}-{i}") for i in range(3)]
        await asyncio.gather(adder.add(added, marks="a"), deleter.delete_session())
        listed = [
            info
            for info in (await fresh.list_sessions(limit=100)).sessions
            if info.session_id == f"s{n}"
        ]
        after = view(await fresh.get_memory())
        if after:
            assert after == view(added), n
            assert view(await fresh.get_memory(mark="a")) == view(added), n
            assert [info.size for info in listed] == [3], n
            assert await fresh.version() > 0, n
        else:
            assert listed == [], (n, listed)
            assert await fresh.version() == 0, n
        assert view(await adder.get_memory()) == after, n
