"""What only the Redis backend promises of contract v2: one command per call, the
stored format of upserts, the message cache across processes, batches past a
script's argument limits, and the state slot through a staged import."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from memmark.core import DuplicateMessageError, VersionConflictError
from memmark.core.cache import MessageCache
from memmark.redis import RedisMemory, _memory
from tests.backends import key_prefix
from tests.redis.conftest import client_fixture
from tests.redis.test_redis_memory import _count_commands, contents, msg
from tests.servers import RedisServer

client = client_fixture("redis", "redis-cluster", "fakeredis")


def make(client: Any, session: str = "s", **kwargs: Any) -> RedisMemory:
    return RedisMemory(
        session_id=session, user_id="u", client=client, key_prefix=client.test_prefix, **kwargs
    )


# -- one command per call ------------------------------------------------------------


@pytest.mark.parametrize("key_ttl", [None, 30])
async def test_every_v2_call_is_one_command(own_server: RedisServer, key_ttl: int | None) -> None:
    client = aioredis.Redis.from_url(own_server.url, single_connection_client=True)
    memory = RedisMemory(client=client, key_prefix=key_prefix(), key_ttl=key_ttl)
    state = {
        "content": [[msg("i1", "i1").to_dict(), ["m"]], [msg("i2", "i2").to_dict(), []]],
        "_session_state": {"step": 1},
    }

    async def version() -> int:
        return await memory.version()

    def every_kind() -> Any:
        return (
            memory.batch(batch_id=f"turn-{len(batches)}")
            .add(msg("user says", f"u{len(batches)}"))
            .add(msg("hint", f"h{len(batches)}"), marks="hint", skip_duplicated=False)
            .upsert(msg("reply", "a"), marks="reply")
            .delete(["nope", f"h{len(batches)}"])
            .delete_by_mark("hint")
            .update_messages_mark("seen", msg_ids=["a", "b"])
            .update_compressed_summary("summary")
            .set_session_state({"turn": len(batches)})
            .pop()
            .clear()
        )

    batches: list[Any] = []

    async def batch() -> None:
        result = await every_kind().commit()
        batches.append(result)
        assert not result.replayed

    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "upsert new": lambda: memory.upsert([msg("a", "a"), msg("b", "b")], marks="m"),
        "upsert stored": lambda: memory.upsert(msg("a2", "a"), marks="n"),
        "pop": memory.pop,
        "set state": lambda: memory.set_session_state({"k": [1, 2]}),
        "get state": memory.get_session_state,
        "page": lambda: memory.get_page(limit=1),
        "page before": lambda: memory.get_page(limit=1, before="a"),
        "page after": lambda: memory.get_page(limit=5, after="a", mark="m"),
        "page exclude": lambda: memory.get_page(limit=2, exclude_mark="n"),
        "page unknown": lambda: _refused_page(memory),
        "messages": lambda: memory.get_messages(["b", "a", "nope"]),
        "expect add": lambda: version_then(memory.add, msg("c", "c")),
        "expect delete": lambda: version_then(memory.delete, ["c"]),
        "expect summary": lambda: version_then(memory.update_compressed_summary, "s"),
        "stale version": lambda: _conflict(memory.clear(expect_version=1)),
        "batch of every kind": batch,
        "batch replayed": lambda: _replayed(memory),
        "add kept": lambda: memory.add(msg("kept", "kept")),
        "batch refused": lambda: _duplicate(memory),
        "export": memory.export_state,
        "import": lambda: memory.import_state(state),
    }

    async def version_then(method: Any, argument: Any) -> None:
        await method(argument, expect_version=versions[-1])

    versions: list[int] = []
    try:
        await memory.size()  # open the connection and load the scripts
        for op in calls.values():  # every script cached on the server
            versions.append(await version())
            await op()
        for name, op in calls.items():
            versions.append(await version())
            sent = await _count_commands(own_server, op)
            assert len(sent) == 1, (name, sent)
            assert sent[0].startswith("EVALSHA "), (name, sent)
    finally:
        await memory.delete_session()
        await client.aclose()


async def _refused_page(memory: RedisMemory) -> None:
    with pytest.raises(LookupError):
        await memory.get_page(limit=1, after="never stored")


async def _conflict(call: Awaitable[Any]) -> None:
    with pytest.raises(VersionConflictError):
        await call


async def _replayed(memory: RedisMemory) -> None:
    result = await memory.batch(batch_id="turn-0").clear().commit()
    assert result.replayed


async def _duplicate(memory: RedisMemory) -> None:
    with pytest.raises(DuplicateMessageError):
        await memory.batch().add(msg("again", "kept"), skip_duplicated=False).commit()


# -- what is stored ------------------------------------------------------------------


async def test_upsert_rewrites_the_payload_wherever_it_is_stored(client: Any) -> None:
    memory = make(client)
    await memory.add([msg("one", "1"), msg("two", "2"), msg("three", "3")], marks=["m", "n"])
    keys = memory.keys
    index_before = await client.zcard(keys.mark_index)
    assert await memory.upsert(msg("TWO", "2"), marks=["n", "o"]) == 1
    # The seq (its score) is kept, the payload is rewritten in the order and
    # in each mark's entry, and the new mark gets an entry of its own.
    assert await client.zscore(keys.ids, "2") == 2
    assert await client.zcard(keys.mark_index) == index_before + 1
    raw = await client.execute_command("ZRANGE", keys.mark_index, 0, -1, NEVER_DECODE=True)
    assert not any(b"two" in entry for entry in raw)
    assert sum(b"TWO" in entry for entry in raw) == 3
    for mark in ("m", "n", "o"):
        assert "TWO" in contents(await memory.get_memory(mark=mark))
    assert contents(await memory.get_memory(mark="o")) == ["TWO"]
    assert contents((await memory.get_page(limit=5, mark="m")).messages) == ["one", "TWO", "three"]
    assert contents(await memory.get_memory()) == ["one", "TWO", "three"]
    # Deleting it afterwards leaves no stray index entry.
    await memory.delete_by_mark("o")
    assert await client.zcard(keys.mark_index) == 4
    assert contents(await memory.get_memory(mark="n")) == ["one", "three"]


async def test_a_batch_past_the_argument_limits_of_lua_is_one_run(client: Any) -> None:
    memory = make(client)
    many = [msg(f"m{i}", f"m{i}") for i in range(9000)]
    await memory.add(many, marks="old")
    result = await (
        memory.batch()
        .delete([f"m{i}" for i in range(0, 9000, 2)] + [f"nope{i}" for i in range(5000)])
        .update_messages_mark("kept", "old", [f"m{i}" for i in range(1, 9000, 2)])
        .upsert([msg(f"new{i}", f"n{i}") for i in range(8500)], marks="new")
        # The odd ids are still stored (skipped); the even ones were deleted above.
        .add([msg(f"again{i}", f"m{i}") for i in range(8500)])
        .commit()
    )
    assert result.results == [4500, 4500, 0, None]
    assert await memory.size() == 4500 + 8500 + 4250
    assert len(await memory.get_memory(mark="kept")) == 4500
    assert await memory.get_memory(mark="old") == []


# -- the message cache ---------------------------------------------------------------


async def test_the_cache_follows_batches_here_and_in_another_process(client: Any) -> None:
    # Two caches stand for two processes sharing the session.
    here = make(client, message_cache=MessageCache())
    there = make(client, message_cache=MessageCache())
    await here.add([msg("a", "a"), msg("b", "b")], marks="m")
    assert contents(await here.get_memory()) == ["a", "b"]  # cached here
    assert contents(await there.get_memory()) == ["a", "b"]  # and there

    await there.batch().upsert(msg("A", "a")).pop().add(msg("c", "c")).commit()
    assert contents(await here.get_memory()) == ["A", "c"]
    assert contents(await here.get_memory(mark="m")) == ["A"]

    await here.upsert(msg("C", "c"), marks="m")
    assert contents(await here.get_memory(mark="m")) == ["A", "C"]
    assert contents(await there.get_memory()) == ["A", "C"]

    await here.set_session_state({"n": 1})  # messages untouched: the snapshot moves on
    await here.update_compressed_summary("s", expect_version=await here.version())
    assert contents(await here.get_memory()) == ["s", "A", "C"]
    assert (await there.pop()) is not None
    assert contents(await here.get_memory()) == ["s", "A"]


async def test_own_batches_move_the_cached_snapshot_on(client: Any) -> None:
    cache = MessageCache()
    here = make(client, message_cache=cache)
    truth = make(client, message_cache=False)
    await here.add([msg(f"m{i}", f"m{i}") for i in range(6)], marks="old")
    await here.update_messages_mark("tool", msg_ids=["m1", "m4"])
    batches = [
        lambda b: b.add(msg("user", "u1")).add(msg("hint", "h1"), marks="hint"),
        lambda b: b.delete_by_mark("hint").upsert(msg("M2", "m2"), marks=["x", "tool"]),
        lambda b: b.upsert([msg("new", "n1"), msg("M0", "m0")]).pop().delete(["m3", "nope"]),
        lambda b: b.update_messages_mark("y", "tool").update_messages_mark(None, msg_ids=["m5"]),
        lambda b: b.update_compressed_summary("s").set_session_state({"k": 1}),
        lambda b: b.clear().add(msg("again", "a1"), marks="z").pop().add(msg("last", "l1")),
    ]
    for build in batches:
        await here.get_memory()  # held at the version the batch starts from
        result = await build(here.batch()).commit()
        held = cache.get(here._cache_key)
        assert held is not None  # moved on, not dropped
        assert held.version == result.version
        for mark in (None, "old", "tool", "x", "y", "z", "hint"):
            # Contents tell the messages apart (an upsert changes them); the
            # summary message's id is drawn per read, so ids are not compared.
            mine = contents(await here.get_memory(mark=mark))
            assert mine == contents(await truth.get_memory(mark=mark)), mark
        excluded = await here.get_memory(exclude_mark="old")
        assert contents(excluded) == contents(await truth.get_memory(exclude_mark="old"))


# -- the state slot ------------------------------------------------------------------


async def test_a_staged_import_carries_the_state_slot(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_memory, "IMPORT_BUDGET", 2)  # five messages: three runs
    memory = make(client)
    await memory.set_session_state({"before": True})
    state = {
        "content": [[msg(f"c{i}", f"c{i}").to_dict(), []] for i in range(5)],
        "_session_state": {"after": [1, "\u00e9"]},
    }
    await memory.import_state(state)
    assert await memory.get_session_state() == {"after": [1, "\u00e9"]}
    exported = await memory.export_state()
    assert exported["_session_state"] == {"after": [1, "\u00e9"]}
    assert len(exported["content"]) == 5
    await memory.import_state({"content": []})  # a state without a slot removes it
    assert await memory.get_session_state() is None


# -- expiry without a TTL ------------------------------------------------------------
#
# Without a TTL a run skips the nine PERSIST when the version key has no
# expiry; the two runs that may leave expiries apart must not.


async def _expiries(client: Any, memory: RedisMemory) -> set[int]:
    return {await client.pttl(key) for key in memory.keys if await client.exists(key)}


async def test_a_staged_import_leaves_no_staging_expiry_behind(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_memory, "IMPORT_BUDGET", 2)
    memory = make(client)
    await memory.add(msg("before", "b"), marks="m")
    state = {"content": [[msg(f"c{i}", f"c{i}").to_dict(), ["m"]] for i in range(5)]}
    await memory.import_state(state)
    assert await _expiries(client, memory) == {-1}  # not the staging keys' hour


async def test_a_first_version_beside_older_keys_with_a_ttl_persists_them(client: Any) -> None:
    with_ttl = make(client, key_ttl=600)
    await with_ttl.add(msg("old", "o"), marks="m")
    # As a session written before versions existed: no version key.
    await client.delete(with_ttl.keys.version)
    without = make(client)
    await without.update_compressed_summary("s")
    assert await _expiries(client, without) == {-1}
