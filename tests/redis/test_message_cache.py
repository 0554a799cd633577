"""The message cache: a held session is served without payloads, and never stale."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
from typing import Any

import pytest

from memmark.core import DuplicateMessageError, Msg
from memmark.core.cache import Snapshot
from memmark.redis import MessageCache, RedisMemory
from tests.backends import drop_keys, key_prefix, redis_client
from tests.redis.conftest import client_fixture

client = client_fixture("redis", "redis-cluster", "fakeredis")


def make(client: Any, cache: MessageCache | bool, session: str = "s") -> RedisMemory:
    return RedisMemory(
        session_id=session,
        user_id="u",
        client=client,
        key_prefix=client.test_prefix,
        message_cache=cache,
    )


def msg(content: str, msg_id: str | None = None) -> Msg:
    message = Msg("Ann", [{"type": "text", "text": content}], "user", metadata={"k": [1, 2]})
    if msg_id is not None:
        message.id = msg_id
    return message


def view(msgs: list[Msg]) -> list[dict[str, Any]]:
    return [m.to_dict() for m in msgs]


class ReplyBytes:
    """Counts the bytes of every reply a memory's client receives (the real replies)."""

    def __init__(self, memory: RedisMemory) -> None:
        self.total = 0
        self._client = memory._scripts.client
        memory._scripts.client = self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        reply = await self._client.execute_command(*args, **kwargs)
        self.total += self._size(reply)
        return reply

    def _size(self, value: Any) -> int:
        if isinstance(value, (bytes, str)):
            return len(value)
        if isinstance(value, list):
            return sum(self._size(item) for item in value)
        return 8


READS: list[dict[str, Any]] = [
    {},
    {"exclude_mark": "compressed"},
    {"mark": "hint"},
    {"limit": 3},
    {"mark": "tool", "exclude_mark": "hint", "limit": 2},
    {"limit": 0},
]


async def test_a_held_session_is_read_without_its_payloads(client: Any) -> None:
    cache = MessageCache()
    memory = make(client, cache)
    await memory.add([msg("x" * 2000) for _ in range(50)], marks="tool")
    await memory.add([msg("y" * 2000) for _ in range(10)], marks="hint")
    first = await memory.get_memory(exclude_mark="compressed")
    assert len(cache) == 1
    counter = ReplyBytes(memory)
    for read in READS:
        counter.total = 0
        again = await memory.get_memory(**read)
        assert counter.total < 200, (read, counter.total)  # the payloads are over 100 KB
        uncached = await make(client, False).get_memory(**read)
        assert view(again) == view(uncached), read
    assert view(first) == view(await make(client, False).get_memory())


async def test_own_writes_keep_the_session_held_and_right(client: Any) -> None:
    cache = MessageCache()
    memory = make(client, cache)
    plain = make(client, False)
    await memory.add([msg(f"m{i}", f"m{i}") for i in range(20)], marks=["tool"])
    await memory.get_memory()
    counter = ReplyBytes(memory)
    steps: list[Any] = [
        lambda: memory.add([msg("new", "n1"), msg("dup", "m3"), msg("new2", "n2")], marks="hint"),
        lambda: memory.delete_by_mark("hint"),
        lambda: memory.update_messages_mark("compressed", msg_ids=["m1", "m2", "nope"]),
        lambda: memory.update_messages_mark(None, old_mark="tool", msg_ids=["m5"]),
        lambda: memory.update_messages_mark("x", old_mark="compressed"),
        lambda: memory.update_messages_mark(None),
        lambda: memory.delete(["m7", "m8", "nope"]),
        lambda: memory.update_compressed_summary("sum"),
        lambda: memory.add(msg("late", "n3"), marks=["a", "b"]),
        lambda: memory.clear(),
        lambda: memory.add(msg("after", "n4")),
    ]
    for number, step in enumerate(steps):
        await step()
        assert len(cache) == 1
        counter.total = 0
        for read in [*READS, {"mark": "a"}, {"exclude_mark": "x"}]:
            # The summary is compared apart: each read makes its message afresh.
            got = await memory.get_memory(**read, prepend_summary=False)
            want = await plain.get_memory(**read, prepend_summary=False)
            assert view(got) == view(want), read
        summary = await memory.get_memory(limit=0)
        assert [m.content for m in summary] == (["sum"] if number >= 7 else [])
        assert counter.total < 2000


async def test_a_refused_add_keeps_the_session_held(client: Any) -> None:
    cache = MessageCache()
    memory = make(client, cache)
    await memory.add(msg("a", "a"))
    await memory.get_memory()
    with pytest.raises(DuplicateMessageError):
        await memory.add([msg("b", "b"), msg("a again", "a")], skip_duplicated=False)
    assert len(cache) == 1
    assert [m.id for m in await memory.get_memory()] == ["a"]


async def test_another_writer_is_always_seen(client: Any) -> None:
    """A second handle with a cache of its own stands for another process."""
    ours, theirs = MessageCache(), MessageCache()
    memory, other = make(client, ours), make(client, theirs)
    plain = make(client, False)
    rng = random.Random(7)
    await memory.add([msg(f"m{i}", f"m{i}") for i in range(10)], marks="tool")
    for step in range(60):
        writer = rng.choice([memory, other])
        action = rng.randrange(4)
        if action == 0:
            await writer.add(msg(f"s{step}", f"s{step}"), marks=rng.choice([[], ["hint"]]))
        elif action == 1:
            await writer.delete_by_mark("hint")
        elif action == 2:
            ids = [m.id for m in await plain.get_memory()]
            await writer.update_messages_mark(
                "compressed", msg_ids=rng.sample(ids, min(2, len(ids)))
            )
        else:
            await writer.delete([f"s{step - 1}"])
        for reader in (memory, other):
            for read in READS:
                got = await reader.get_memory(**read)
                assert view(got) == view(await plain.get_memory(**read)), (step, read)


async def test_a_returned_list_shares_nothing_with_the_cache(client: Any) -> None:
    memory = make(client, MessageCache())
    await memory.add([msg("a"), msg("b")])
    first = await memory.get_memory()
    first.clear()
    second = await memory.get_memory()
    assert len(second) == 2
    second.append(msg("c"))
    assert len(await memory.get_memory()) == 2


async def test_a_caller_changing_an_added_message_does_not_reach_the_cache(client: Any) -> None:
    memory = make(client, MessageCache())
    await memory.get_memory()
    await memory.add(msg("before"))  # a new session: no snapshot held yet
    await memory.get_memory()
    added = msg("original")
    await memory.add(added)
    added.content[0]["text"] = "changed"  # type: ignore[index]
    assert added.metadata is not None
    added.metadata["k"].append(3)
    got = await memory.get_memory()
    assert got[-1].content == [{"type": "text", "text": "original"}]
    assert got[-1].metadata == {"k": [1, 2]}


async def test_a_session_without_a_version_is_read_and_not_held(client: Any) -> None:
    cache = MessageCache()
    memory = make(client, cache)
    await make(client, False).add([msg("a", "a"), msg("b", "b")], marks="hint")
    await client.delete(memory.keys.version)  # as written before versions existed
    assert [m.id for m in await memory.get_memory(exclude_mark="x")] == ["a", "b"]
    assert len(cache) == 0
    await memory.add(msg("c", "c"))
    assert [m.id for m in await memory.get_memory(mark="hint")] == ["a", "b"]
    assert [m.id for m in await memory.get_memory()] == ["a", "b", "c"]
    assert len(cache) == 1


async def test_switched_off_nothing_is_held(client: Any) -> None:
    memory = make(client, False)
    await memory.add(msg("a"))
    await memory.get_memory()
    assert memory._cache is None


async def test_a_cancelled_write_leaves_no_stale_session(client: Any) -> None:
    cache = MessageCache()
    memory = make(client, cache)
    await memory.add(msg("a"))
    await memory.get_memory()
    for spins in range(4):
        write = memory.add([msg("b" * 1000) for _ in range(200)])
        task = asyncio.create_task(write)
        for _ in range(spins):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # Cancelled before it was sent, or completed anyway: either way the
        # session held (if any) is the one on the server.
        held = cache.get(memory._cache_key)
        if held is not None:
            assert held.version == int(await client.get(memory.keys.version))
        assert view(await memory.get_memory()) == view(await make(client, False).get_memory())


@pytest.mark.redis
async def test_a_write_by_another_process_is_seen_by_the_next_read(redis_url: str) -> None:
    client = redis_client(redis_url)
    client.test_prefix = key_prefix()
    try:
        memory = make(client, MessageCache())
        await memory.add([msg("a", "a")])
        assert [m.id for m in await memory.get_memory()] == ["a"]
        code = (
            "import asyncio, sys\n"
            "from memmark.core import Msg\n"
            "from memmark.redis import RedisMemory\n"
            "async def main():\n"
            "    m = RedisMemory(session_id='s', user_id='u', url=sys.argv[1],\n"
            "                    key_prefix=sys.argv[2])\n"
            "    msg = Msg('Bo', 'from elsewhere', 'user'); msg.id = 'b'\n"
            "    await m.add(msg)\n"
            "    await m.delete(['a'])\n"
            "    await m.close()\n"
            "asyncio.run(main())\n"
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, redis_url, client.test_prefix
        )
        assert await process.wait() == 0
        assert [m.id for m in await memory.get_memory()] == ["b"]
    finally:
        await drop_keys(client, client.test_prefix)
        await client.aclose()


def _snapshot(weight: int) -> Snapshot:
    return Snapshot(1, {}, {}, weight)


def test_the_cache_is_bounded_by_sessions_and_bytes() -> None:
    cache = MessageCache(max_sessions=2, max_bytes=100)
    cache.put("a", _snapshot(10))
    cache.put("b", _snapshot(10))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", _snapshot(10))
    assert cache.get("b") is None
    assert len(cache) == 2
    cache.put("d", _snapshot(95))
    assert len(cache) == 1
    assert cache.bytes == 95
    cache.put("e", _snapshot(101))  # heavier than the whole cache: never held
    assert cache.get("e") is None
    assert cache.bytes == 95
    with pytest.raises(ValueError, match="at least 1"):
        MessageCache(max_sessions=0)
