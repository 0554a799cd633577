"""What only the Redis backend promises: keys, TTL, scripts, round trips, chunks."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import fakeredis
import msgpack
import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import LoadBalancingStrategy
from redis.crc import key_slot

from memmark.core import DuplicateMessageError, InMemoryMemory, MemoryClosedError, Msg
from memmark.core.testing import COLLIDING_PAIRS, HOSTILE_IDS
from memmark.redis import RedisMemory, _memory, session_keys
from memmark.redis._protocol import MAX_KEY_TTL
from memmark.redis._scripts import scripts
from tests.backends import drop_keys, key_prefix
from tests.redis.conftest import client_fixture, prefixed_client
from tests.servers import Cluster, RedisServer

# -- where the tests run: the shared server, and fakeredis both ways ----------


client = client_fixture("redis", "fakeredis")


def make(client: Any, user: str = "u", session: str = "s", **kwargs: Any) -> RedisMemory:
    return RedisMemory(
        session_id=session, user_id=user, client=client, key_prefix=client.test_prefix, **kwargs
    )


def msg(content: str, msg_id: str | None = None, **kwargs: Any) -> Msg:
    m = Msg("tester", content, "user", **kwargs)
    if msg_id is not None:
        m.id = msg_id
    return m


def contents(msgs: list[Msg]) -> list[Any]:
    return [m.content for m in msgs]


# -- keys -------------------------------------------------------------------------


def test_hostile_pairs_never_share_a_key() -> None:
    pairs = list(itertools.product((*HOSTILE_IDS, ""), repeat=2)) + list(COLLIDING_PAIRS)
    seen: dict[bytes, tuple[str, str]] = {}
    for pair in set(pairs):
        for key in session_keys("", *pair):
            assert key not in seen, (pair, seen.get(key))
            seen[key] = pair
    # and every pair's keys hash to one slot, whatever its ids hold
    for pair in set(pairs):
        assert len({key_slot(k) for k in session_keys("p{", *pair)}) == 1


def test_key_prefix_with_braces() -> None:
    # a prefix that opens a tag of its own still keeps each session in one slot
    for prefix in ("{", "a{b", "}{", "x}", "{tenant}:", "a{b}c{"):
        keys = session_keys(prefix, "user", "sess")
        assert len({key_slot(k) for k in keys}) == 1
        assert all(k.startswith(prefix.encode()) for k in keys)
    # an empty tag would make the cluster hash whole keys: refused
    with pytest.raises(ValueError, match="key_prefix"):
        RedisMemory(key_prefix="app{}:", client=fakeredis.aioredis.FakeRedis())


async def test_a_session_uses_only_its_fixed_keys(client: Any) -> None:
    memory = make(client, "user:{1}", "sess*")
    await memory.add([msg(f"m{i}") for i in range(50)], marks=["a", "b"])
    await memory.add([msg(f"n{i}") for i in range(50)])
    await memory.update_compressed_summary("s")
    await memory.update_messages_mark("c", old_mark="a")
    await memory.batch(batch_id="turn-1").set_session_state({"step": 1}).commit()
    keys = {
        k if isinstance(k, bytes) else k.encode()
        async for k in client.scan_iter(match=f"{client.test_prefix}*")
    }
    assert keys == set(memory.keys)
    # The five of the messages, the version, the last write's time, the
    # state slot and the applied batch ids.
    assert len(keys) == 9


async def test_hostile_ids_hold_apart_on_the_server(client: Any) -> None:
    ids = [*HOSTILE_IDS, ""]
    memories = {}
    for i, (user, session) in enumerate(itertools.product(ids[:12], ids[-12:])):
        memory = make(client, user, session)
        await memory.add(msg(f"{i}", "same-id"), marks=ids[i % len(ids)] or "m")
        memories[(user, session)] = (memory, f"{i}")
    for memory, content in memories.values():
        assert contents(await memory.get_memory()) == [content]


@pytest.mark.redis
@pytest.mark.redis_cluster
async def test_every_key_of_a_session_is_in_one_slot(redis_cluster: Cluster) -> None:
    client = redis_cluster.client()
    prefix = key_prefix()
    try:
        for user, session in [("u", "s"), *COLLIDING_PAIRS, ("{", "}"), ("x" * 10_000, "\x00")]:
            memory = RedisMemory(session_id=session, user_id=user, client=client, key_prefix=prefix)
            await memory.add([msg("a"), msg("b")], marks=["m", "n"])
            await memory.update_compressed_summary("sum")
            slots = {await client.cluster_keyslot(k) for k in memory.keys}
            assert len(slots) == 1
            # and the slot's node really holds them all (no CROSSSLOT, no MOVED)
            assert await client.exists(*memory.keys) == 7
            state = await memory.export_state()
            # a staged import (bigger than one run) also stays in the slot
            big = {"content": [[msg(f"x{i}").to_dict(), ["m"]] for i in range(7)]}
            old = _memory.IMPORT_BUDGET
            _memory.IMPORT_BUDGET = 3
            try:
                await memory.import_state(big)
            finally:
                _memory.IMPORT_BUDGET = old
            assert await memory.size() == 7
            await memory.import_state(state)
            assert await memory.export_state() == state
    finally:
        await drop_keys(client, prefix)
        await client.aclose()


# -- payloads ---------------------------------------------------------------------


async def test_payloads_round_trip_byte_exact(client: Any) -> None:
    memory = make(client)
    odd = msg(
        "héllo \x00 🙂",
        metadata={"nul": "\x00", "n": [1, 2.5, None, -(2**63), 2**63 - 1, -0.0, 1e300]},
        invocation_id="inv",
    )
    await memory.add(odd)
    (got,) = await memory.get_memory()
    assert got.to_dict() == odd.to_dict()
    # what is stored is msgpack, never pickle: decodable by any msgpack reader
    raw = await client.execute_command("ZRANGE", memory.keys[1], 0, -1, NEVER_DECODE=True)
    assert msgpack.unpackb(raw[0], raw=False, strict_map_key=False)[0] == odd.id


# -- TTL --------------------------------------------------------------------------


async def _pttls(client: Any, memory: RedisMemory) -> list[int]:
    return [await client.pttl(k) for k in memory.keys]


async def _wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)  # a poll interval, not a wait for the answer


@pytest.mark.redis
async def test_ttl_slides_on_reads_and_writes_and_lapses(redis_url: str) -> None:
    async with prefixed_client(redis_url, False) as client:
        memory = make(client, key_ttl=5)
        await memory.add(msg("a"), marks="m")
        await memory.update_compressed_summary("sum")
        # The state slot and the batch ids expire with the rest.
        await memory.batch(batch_id="b1").set_session_state({"n": 1}).commit()
        ttls = await _pttls(client, memory)
        assert all(4000 < t <= 5000 for t in ttls), ttls
        for call in (
            memory.get_memory,
            memory.size,
            lambda: memory.get_memory(mark="m"),
            lambda: memory.add(msg("b")),
            lambda: memory.delete(["nope"]),
            lambda: memory.update_messages_mark("n"),
            memory.export_state,
            lambda: memory.get_page(limit=1),
            lambda: memory.get_messages(["a", "b"]),
            memory.get_session_state,
            lambda: memory.upsert(msg("c")),
            memory.pop,
            lambda: memory.batch(batch_id="b1").clear().commit(),  # a replay slides too
        ):
            for key in memory.keys:  # as if most of the TTL had passed
                await client.pexpire(key, 100)
            await call()
            ttls = await _pttls(client, memory)
            assert all(4000 < t <= 5000 for t in ttls), ttls
        memory.key_ttl = 0.2  # changed after construction: the next call applies it
        await memory.size()
        assert all(0 < t <= 200 for t in await _pttls(client, memory))

        async def all_gone() -> bool:
            return await client.exists(*memory.keys) == 0

        await _wait_for(all_gone)
        assert await memory.size() == 0
        assert await memory.get_memory() == []


async def test_key_ttl_changed_after_construction(client: Any) -> None:
    memory = make(client)
    await memory.add(msg("a"), marks="m")
    await memory.update_compressed_summary("s")
    await memory.batch(batch_id="b1").set_session_state({"n": 1}).commit()
    assert await _pttls(client, memory) == [-1] * 9
    memory.key_ttl = 60
    await memory.size()
    assert all(59_000 < t <= 60_000 for t in await _pttls(client, memory))
    memory.key_ttl = None  # no TTL: the next call makes every key persistent again
    await memory.get_memory()
    assert await _pttls(client, memory) == [-1] * 9
    with pytest.raises(ValueError, match="key_ttl"):
        memory.key_ttl = 0
    with pytest.raises(TypeError, match="key_ttl"):
        memory.key_ttl = "10"  # type: ignore[assignment]


async def test_size_without_a_ttl_counts_and_leaves_the_expiry_as_it_is(client: Any) -> None:
    without = make(client)
    assert await without.size() == 0  # its first call: a script, which settles the expiry
    with_ttl = make(client, key_ttl=60)
    await with_ttl.add([msg("a", "a"), msg("b", "b")], marks="m")
    assert await without.size() == 2
    # Once settled, size is the one call of a handle without a TTL that
    # leaves another handle's expiry as it is.
    kept = [t for t in await _pttls(client, without) if t != -2]  # -2: a key not written
    assert len(kept) >= 4
    assert all(59_000 < t <= 60_000 for t in kept)
    await without.get_memory()
    assert {t for t in await _pttls(client, without) if t != -2} == {-1}


async def test_size_right_after_the_ttl_is_dropped_drops_the_expiry(client: Any) -> None:
    memory = make(client, key_ttl=60)
    await memory.add(msg("a", "a"), marks="m")
    memory.key_ttl = None  # the next call applies it, size included
    assert await memory.size() == 1
    assert {t for t in await _pttls(client, memory) if t != -2} == {-1}


@pytest.mark.parametrize(
    "seconds", [float("nan"), float("inf"), -float("inf"), 1e300, 2**63, 10**20]
)
def test_key_ttl_beyond_what_pexpire_takes_is_refused(seconds: float) -> None:
    # NaN, infinities and values whose milliseconds PEXPIRE cannot take are a
    # ValueError naming the argument, at construction and on assignment.
    client = fakeredis.aioredis.FakeRedis()
    with pytest.raises(ValueError, match="key_ttl"):
        RedisMemory(client=client, key_ttl=seconds)
    memory = RedisMemory(client=client)
    with pytest.raises(ValueError, match="key_ttl"):
        memory.key_ttl = seconds
    assert memory.key_ttl is None


async def test_key_ttl_at_its_largest_is_taken_by_the_server(client: Any) -> None:
    memory = make(client, key_ttl=MAX_KEY_TTL)
    await memory.add(msg("a"), marks="m")
    ttls = await _pttls(client, memory)
    assert ttls[0] == ttls[7] == ttls[8] == -2  # no summary, state or batch id: no key
    assert all(MAX_KEY_TTL * 1000 - 60_000 < t <= MAX_KEY_TTL * 1000 for t in ttls[1:7])


# -- scripts ----------------------------------------------------------------------


async def test_scripts_reload_after_script_flush(client: Any) -> None:
    memory = make(client)
    await memory.add(msg("a"))
    await client.script_flush()
    await memory.add(msg("b"), marks="m")
    assert contents(await memory.get_memory()) == ["a", "b"]
    uncached = make(client, message_cache=False)  # reads with get
    assert contents(await uncached.get_memory(mark="m")) == ["b"]
    loaded = [scripts()[name].sha for name in ("add", "read", "get")]
    assert await client.script_exists(*loaded) == [True, True, True]


async def test_survives_a_server_restart(own_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(own_server.url)
    try:
        memory = RedisMemory(client=client)
        await memory.add(msg("before"))
        own_server.stop()
        own_server.start()  # no persistence: the data and the script cache are gone
        with contextlib.suppress(ConnectionError, aioredis.ConnectionError):
            await memory.size()  # the pool may still hold the dead connection
        await memory.add(msg("after"))
        assert contents(await memory.get_memory()) == ["after"]
    finally:
        await client.aclose()


# -- one round trip ---------------------------------------------------------------


async def _count_commands(server: RedisServer, call: Callable[[], Awaitable[Any]]) -> list[str]:
    """Return the commands ``call`` sent, as MONITOR saw them (script internals excluded)."""
    admin = aioredis.Redis.from_url(server.url)
    sentinel = "memmark-count-sentinel"
    seen: list[str] = []
    try:
        async with admin.monitor() as monitor:
            await admin.echo("memmark-count-start")

            async def collect() -> None:
                started = False
                while True:
                    info = await monitor.next_command()
                    command = info["command"]
                    if "memmark-count-start" in command:
                        started = True
                        continue
                    if sentinel in command:
                        return
                    if started and info["client_type"] != "lua":
                        seen.append(command)

            task = asyncio.create_task(collect())
            await asyncio.sleep(0.05)  # let the monitor see the start marker first
            await call()
            await admin.echo(sentinel)
            await asyncio.wait_for(task, 10)
    finally:
        await admin.aclose()
    return seen


async def _refused(call: Awaitable[Any]) -> None:
    with pytest.raises(DuplicateMessageError):
        await call


@pytest.mark.redis_cluster
async def test_size_on_a_cluster_is_a_script_on_the_primary(redis_cluster: Cluster) -> None:
    # A bare ZCARD may be read from a replica (a load balancing strategy
    # that reads from replicas), with a count behind this handle's own
    # writes; a script runs on the primary.
    client = redis_cluster.client(load_balancing_strategy=LoadBalancingStrategy.ROUND_ROBIN)
    memory = RedisMemory(client=client, key_prefix=key_prefix())
    try:
        await memory.add(msg("a", "a"))
        assert await memory.size() == 1
        node = client.get_node_from_key(memory.keys.ids)
        primary = cast(RedisServer, SimpleNamespace(url=f"redis://{node.host}:{node.port}"))
        sent = await _count_commands(primary, memory.size)
        assert [command.split()[0] for command in sent] == ["EVALSHA"], sent
    finally:
        await memory.delete_session()
        await client.aclose()


@pytest.mark.parametrize("key_ttl", [None, 30])
async def test_every_call_is_one_round_trip(own_server: RedisServer, key_ttl: int | None) -> None:
    client = aioredis.Redis.from_url(own_server.url, single_connection_client=True)
    memory = RedisMemory(client=client, key_prefix=key_prefix(), key_ttl=key_ttl)
    state = {"content": [[msg("i1", "i1").to_dict(), ["m"]], [msg("i2", "i2").to_dict(), []]]}
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "add": lambda: memory.add([msg("a", "a"), msg("b", "b")]),
        "add marks": lambda: memory.add([msg("c", "c"), msg("d", "d")], marks=["m", "n"]),
        "add strict": lambda: memory.add(msg("e", "e"), skip_duplicated=False),
        "get all": memory.get_memory,
        "get mark": lambda: memory.get_memory(mark="m"),
        "get exclude": lambda: memory.get_memory(exclude_mark="m"),
        "get both": lambda: memory.get_memory(mark="m", exclude_mark="n", limit=1),
        "get limit": lambda: memory.get_memory(limit=2),
        "size": memory.size,
        "summary": lambda: memory.update_compressed_summary("sum"),
        "update new": lambda: memory.update_messages_mark("x"),
        "update old": lambda: memory.update_messages_mark("y", old_mark="x"),
        "update ids": lambda: memory.update_messages_mark("z", msg_ids=["a", "c"]),
        "update none": lambda: memory.update_messages_mark(None),
        "export": memory.export_state,
        "import": lambda: memory.import_state(state),
        "delete": lambda: memory.delete(["i1", "nope"]),
        "delete_by_mark": lambda: memory.delete_by_mark(["m", "n"]),
        "clear": memory.clear,
    }
    try:
        await memory.size()  # open the connection and load the scripts
        for op in calls.values():  # every script cached on the server
            await op()
        for name, op in calls.items():
            sent = await _count_commands(own_server, op)
            assert len(sent) == 1, (name, sent)
            # Without a TTL, size has no expiry to slide: a bare ZCARD.
            command = "ZCARD " if name == "size" and key_ttl is None else "EVALSHA "
            assert sent[0].startswith(command), (name, sent)
        await memory.add(msg("e", "e"))
        sent = await _count_commands(
            own_server,
            lambda: _refused(memory.add(msg("again", "e"), skip_duplicated=False)),
        )
        assert len(sent) == 1, sent
    finally:
        await memory.clear()
        await client.delete(*memory.keys)
        await client.aclose()


# -- calls too big for one run ------------------------------------------------------


@pytest.fixture
def small_budgets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ADD_BUDGET",
        "DELETE_BUDGET",
        "DELETE_BY_MARK_BUDGET",
        "UPDATE_BUDGET",
        "READ_BUDGET",
        "EXPORT_BUDGET",
        "IMPORT_BUDGET",
    ):
        monkeypatch.setattr(_memory, name, 3)


async def remark_delete_and_reimport(memory: RedisMemory, model: InMemoryMemory) -> None:
    """Re-mark every way, delete by id and by mark, re-import: ``memory`` answers as ``model``.

    Both hold messages ``id0`` to ``id30`` with marks among ``a b c d``.
    """
    for call in (
        lambda m: m.update_messages_mark("b", old_mark="a"),
        lambda m: m.update_messages_mark("d"),
        lambda m: m.update_messages_mark("a", msg_ids=[f"id{i}" for i in range(0, 31, 2)]),
        lambda m: m.update_messages_mark(None, old_mark="d"),
        lambda m: m.delete([f"id{i}" for i in range(0, 31, 3)]),
    ):
        assert await call(memory) == await call(model)
        await _same(memory, model)
    state = await memory.export_state()
    assert await memory.delete_by_mark(["a", "c"]) == await model.delete_by_mark(["a", "c"])
    await _same(memory, model)
    await memory.import_state(state)
    await model.import_state(state)
    await _same(memory, model)


async def _same(memory: RedisMemory, model: InMemoryMemory) -> None:
    for mark, exclude in [(None, None), ("a", None), (None, "a"), ("a", "b"), ("b", None)]:
        for limit in (None, 0, 1, 2, 4, 7, 100):
            got = await memory.get_memory(mark, exclude, limit=limit)
            want = await model.get_memory(mark, exclude, limit=limit)
            assert [m.id for m in got] == [m.id for m in want], (mark, exclude, limit)
    got, want = await memory.export_state(), await model.export_state()
    assert got.get("_compressed_summary") == want.get("_compressed_summary")
    # the order of one message's marks is not part of the contract
    for mine, theirs in zip(got["content"], want["content"], strict=True):
        assert mine[0] == theirs[0]
        assert sorted(mine[1]) == sorted(theirs[1])
    assert await memory.size() == await model.size()


@pytest.mark.usefixtures("small_budgets")
async def test_big_calls_are_cut_into_runs_and_stay_right(client: Any) -> None:
    memory, model = make(client), InMemoryMemory()
    batches = [
        ([msg(f"{i}", f"id{i}") for i in range(10)], ["a"]),
        ([msg(f"{i}", f"id{i}") for i in range(5, 20)], None),
        ([msg(f"{i}", f"id{i}") for i in range(20, 31)], ["a", "b", "c"]),
    ]
    for msgs, marks in batches:
        await memory.add(msgs, marks=marks)
        await model.add(msgs, marks=marks)
    await _same(memory, model)

    with pytest.raises(DuplicateMessageError) as caught:
        await memory.add([msg("new", f"new{i}") for i in range(8)] + [msg("x", "id3")], "a",
                         skip_duplicated=False)  # fmt: skip
    assert caught.value.ids == ["id3"]
    await _same(memory, model)  # nothing of the refused call was written

    await remark_delete_and_reimport(memory, model)  # import staged: 3 per run, then swapped
    assert await memory.update_messages_mark(None) == await model.update_messages_mark(None)
    await _same(memory, model)


# Lengths around each msgpack str header (fixstr, str8, str16, str32), which
# the scripts read to find a message's id inside its index entry.
HEADER_EDGE_IDS = ["x" * n for n in (1, 31, 32, 255, 256, 65535, 65536)] + [
    "\u00e9" * 16,
    "\U0001f600" * 8,
    "\u00e9" * 128,
]


@pytest.mark.parametrize("budgets", ["whole", "small"])
async def test_ids_of_every_header_size_through_the_mark_index(
    client: Any, budgets: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if budgets == "small":
        for name in ("DELETE_BY_MARK_BUDGET", "UPDATE_BUDGET", "READ_BUDGET"):
            monkeypatch.setattr(_memory, name, 3)
    memory, model = make(client), InMemoryMemory()
    for i, msg_id in enumerate(HEADER_EDGE_IDS):
        one = msg(f"m{i}", msg_id)
        marks = ["a", "b"] if i % 3 == 0 else ["a"] if i % 3 == 1 else None
        await memory.add(one, marks=marks)
        await model.add(one, marks=marks)
    await _same(memory, model)
    for call in (
        lambda m: m.update_messages_mark("b", old_mark="a"),
        lambda m: m.update_messages_mark("a", msg_ids=HEADER_EDGE_IDS[::2]),
        lambda m: m.update_messages_mark("c"),
        lambda m: m.update_messages_mark(None, msg_ids=HEADER_EDGE_IDS[1::3]),
        lambda m: m.delete(HEADER_EDGE_IDS[2::4]),
        lambda m: m.delete_by_mark("b"),
        lambda m: m.delete_by_mark(["a", "c"]),
    ):
        assert await call(memory) == await call(model)
        await _same(memory, model)


# -- the client: given, made, closed ------------------------------------------------


async def test_close_leaves_what_was_passed_in_open() -> None:
    fake = fakeredis.aioredis.FakeRedis(decode_responses=True)
    by_client = RedisMemory(client=fake)
    async with RedisMemory(connection_pool=fake.connection_pool) as by_pool:
        await by_pool.add(msg("x"))
        assert by_pool.get_client() is not fake
    await by_client.close()
    with pytest.raises(MemoryClosedError):
        await by_client.get_memory()
    # The client and the pool passed in still work.
    assert contents(await RedisMemory(client=fake).get_memory()) == ["x"]
    assert by_client.get_client() is fake
    await fake.aclose()
    with pytest.raises(ValueError, match="at most one"):
        RedisMemory(client=fake, url="redis://localhost")


@pytest.mark.redis
async def test_url_and_host_port_make_own_clients(redis_url: str) -> None:
    prefix = key_prefix()
    memory = RedisMemory(url=redis_url, key_prefix=prefix, socket_timeout=5)
    await memory.add(msg("via url"))
    client = memory.get_client()
    host = client.connection_pool.connection_kwargs["host"]
    port = client.connection_pool.connection_kwargs["port"]
    db = client.connection_pool.connection_kwargs["db"]
    other = RedisMemory(host=host, port=port, db=db, key_prefix=prefix)
    assert contents(await other.get_memory()) == ["via url"]
    await other.clear()
    await other.close()
    await memory.close()
    await memory.close()  # twice is harmless


async def test_state_dict_holds_only_the_summary() -> None:
    fake = fakeredis.aioredis.FakeRedis()
    memory, other = RedisMemory(client=fake), RedisMemory(client=fake)
    await memory.update_compressed_summary("sum")
    assert memory.state_dict() == {"_compressed_summary": "sum"}
    await other.get_memory()  # a read learns the summary another handle stored
    assert other.state_dict() == {"_compressed_summary": "sum"}
    other.load_state_dict({"_compressed_summary": "local"})
    assert other.state_dict() == {"_compressed_summary": "local"}
    with pytest.raises(ValueError, match="import_state"):
        other.load_state_dict({"content": [msg("a").to_dict()]})
    await fake.aclose()
