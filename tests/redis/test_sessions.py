"""What only Redis promises of versions, listing and deleting sessions: keys, TTL, SCAN."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import pytest

from memmark.core import Msg
from memmark.core.testing import COLLIDING_PAIRS, HOSTILE_IDS
from memmark.redis import MessageCache, RedisMemory, session_keys
from memmark.redis._keys import session_of, version_key_pattern
from tests.redis.conftest import client_fixture

client = client_fixture("redis", "redis-cluster", "fakeredis")


def make(client: Any, user: str = "u", session: str = "s", **kwargs: Any) -> RedisMemory:
    kwargs.setdefault("key_prefix", client.test_prefix)
    return RedisMemory(session_id=session, user_id=user, client=client, **kwargs)


def msg(content: str, msg_id: str | None = None) -> Msg:
    m = Msg("tester", content, "user")
    if msg_id is not None:
        m.id = msg_id
    return m


async def keys_under(client: Any, prefix: str) -> set[bytes]:
    found = set()
    async for key in client.scan_iter(match=f"{prefix}*"):
        found.add(key if isinstance(key, bytes) else key.encode())
    return found


# -- keys -------------------------------------------------------------------------


def test_a_version_key_names_its_pair_back() -> None:
    pairs = list(itertools.product((*HOSTILE_IDS, ""), repeat=2)) + list(COLLIDING_PAIRS)
    for prefix in ("", "app:", "a{b}c:", "*?[x]\\"):
        for pair in pairs:
            assert session_of(prefix, session_keys(prefix, *pair).version) == pair


def test_keys_that_are_no_version_key_of_the_prefix_name_no_pair() -> None:
    keys = session_keys("app:", "u", "s")
    assert session_of("app:", keys.summary) is None
    assert session_of("app", keys.version) is None  # a longer prefix
    assert session_of("ap", keys.version) is None
    assert session_of("a", session_keys("a{x}", "u", "s").version) is None
    # A tag that is no base64 of a length-prefixed pair, or not the one the pair makes.
    for tag in (b"!!!", base64.urlsafe_b64encode(b"9:u"), base64.urlsafe_b64encode(b"x:us")):
        assert session_of("app:", b"app:{" + tag + b"}:v") is None
    assert session_of("app:", b"app:{" + base64.b64encode(b"1:\xff") + b"}:v") is None


def test_the_scan_pattern_escapes_the_prefix() -> None:
    assert version_key_pattern("p*[a]?\\:") == b"p\\*\\[a\\]\\?\\\\:{*}:v"


# -- on the server -------------------------------------------------------------------


async def test_every_write_records_the_time_and_the_listing_reads_it(client: Any) -> None:
    memory = make(client)
    await memory.add(msg("a"))
    server_now = (await client.time())[0]
    listed = (await memory.list_sessions()).sessions
    assert [(s.user_id, s.session_id, s.size) for s in listed] == [("u", "s", 1)]
    # The store's clock, in seconds (recorded in microseconds).
    assert abs(listed[0].updated_at - server_now) < 60
    raw = await client.get(memory.keys.updated)
    assert int(raw) == round(listed[0].updated_at * 1_000_000)


async def test_delete_session_removes_every_key(client: Any) -> None:
    memory = make(client)
    await memory.add([msg("a", "1"), msg("b", "2")], marks=["m", "n"])
    await memory.update_compressed_summary("summary")
    await memory.batch(batch_id="b").set_session_state({"kept": False}).commit()
    assert await keys_under(client, client.test_prefix) == set(memory.keys)
    other = make(client, "u", "other")
    await other.add(msg("kept"))
    before = await keys_under(client, client.test_prefix)
    assert await memory.delete_session() is True
    assert await keys_under(client, client.test_prefix) == before - set(memory.keys)
    assert before - set(memory.keys) <= set(other.keys)


async def test_new_keys_share_the_sessions_ttl(client: Any) -> None:
    memory = make(client, key_ttl=60)
    await memory.update_compressed_summary("only a summary")
    ttls = [await client.pttl(key) for key in (memory.keys.version, memory.keys.updated)]
    assert all(59_000 < ttl <= 60_000 for ttl in ttls), ttls


async def test_listing_leaves_every_sessions_expiry(client: Any) -> None:
    memory = make(client, key_ttl=60)
    await memory.add(msg("a"))
    lister = make(client, "u", "lister", key_ttl=3600)
    await client.pexpire(memory.keys.version, 5_000)
    await client.pexpire(memory.keys.updated, 5_000)
    assert [s.session_id for s in (await lister.list_sessions()).sessions] == ["s"]
    assert await client.pttl(memory.keys.version) <= 5_000


async def test_prefixes_that_start_alike_are_listed_apart(client: Any) -> None:
    base = client.test_prefix
    prefixes = [base, base + "x", base + "{tag}", base + "*"]
    for prefix in prefixes:
        await make(client, "u", f"in {prefix}", key_prefix=prefix).add(msg("a"))
    for prefix in prefixes:
        listed = await make(client, "u", "probe", key_prefix=prefix).list_sessions(all_users=True)
        assert [s.session_id for s in listed.sessions] == [f"in {prefix}"]


async def test_a_session_written_before_versions_is_listed_from_its_next_write(
    client: Any,
) -> None:
    memory = make(client)
    await memory.add(msg("old", "1"))
    await client.delete(memory.keys.version, memory.keys.updated)  # as an older release left it
    assert await memory.version() == 0
    assert (await memory.list_sessions()).sessions == []
    await memory.add(msg("new", "2"))
    listed = (await memory.list_sessions()).sessions
    assert [(s.session_id, s.size) for s in listed] == [("s", 2)]
    assert await memory.delete_session() is True


async def test_delete_session_drops_the_cached_session(client: Any) -> None:
    cache = MessageCache()
    memory = make(client, message_cache=cache)
    other = make(client, message_cache=cache)
    await memory.add([msg("a", "1"), msg("b", "2")])
    await memory.get_memory()
    assert len(cache) == 1
    assert await other.delete_session() is True
    assert len(cache) == 0
    await other.add(msg("c", "1"))
    assert [m.content for m in await memory.get_memory()] == ["c"]


@pytest.mark.parametrize("count", [1, 30])
async def test_a_summary_write_keeps_the_cached_messages(client: Any, count: int) -> None:
    cache = MessageCache()
    memory = make(client, message_cache=cache)
    await memory.add([msg(f"m{i}") for i in range(count)])
    await memory.get_memory()
    held = next(iter(cache._entries.values()))
    await memory.update_compressed_summary("sum")
    again = next(iter(cache._entries.values()))
    assert again.version == await memory.version() == held.version + 1
    assert again.by_id is held.by_id


async def test_listing_runs_on_a_server_that_lost_its_scripts(client: Any) -> None:
    memory = make(client)
    await memory.add(msg("a"))
    await client.script_flush()
    assert [s.session_id for s in (await memory.list_sessions()).sessions] == ["s"]
    await client.script_flush()
    assert await memory.delete_session() is True
    assert (await memory.list_sessions()).sessions == []
