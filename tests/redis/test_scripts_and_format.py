"""The two sides of each script agree, and the stored format is the one sessions were written in."""

from __future__ import annotations

import base64
import inspect
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import fakeredis
import msgpack
import pytest
import redis.asyncio as aioredis

from memmark.core import Msg
from memmark.redis import RedisMemory, _protocol
from memmark.redis._protocol import Scripts, SessionScripts, load_scripts
from memmark.redis._scripts import PRELUDE, SHARED_PREFIX, lua_dir, scripts, shared_code, trimmed
from tests.backends import BY_ID, drop_keys, key_prefix

LUA = Path(__file__).resolve().parents[2] / "lua"

# -- the scripts and their methods ------------------------------------------------


def test_the_scripts_are_read_from_the_repository_folder() -> None:
    assert lua_dir() == LUA
    on_disk = {path.stem for path in LUA.glob("*.lua") if not path.name.startswith(SHARED_PREFIX)}
    assert set(scripts()) == on_disk
    assert set(Scripts._fields) == on_disk
    assert load_scripts().add is scripts()["add"]


def test_a_script_without_a_method_or_a_method_without_a_script_fails_at_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = dict(scripts())
    unload = load_scripts.__wrapped__  # the loader without its per-process cache
    monkeypatch.setattr(_protocol, "scripts", lambda: {**found, "rename": found["add"]})
    with pytest.raises(RuntimeError, match=r"without a method: \['rename'\]; .*: \[\]"):
        unload()
    found.pop("size")
    monkeypatch.setattr(_protocol, "scripts", lambda: found)
    with pytest.raises(RuntimeError, match=r"without a method: \[\]; .*: \['size'\]"):
        unload()


@pytest.mark.parametrize("name", Scripts._fields)
def test_each_script_has_one_method_and_a_header_naming_it(name: str) -> None:
    method = getattr(SessionScripts, name)
    assert inspect.iscoroutinefunction(method)
    header = []
    for line in (LUA / f"{name}.lua").read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        header.append(line)
    text = "\n".join(header)
    assert header[0].startswith(f"-- {name}: "), header[0]
    assert re.search(r"^-- ARGV: ttl\b", text, re.MULTILINE), text
    assert re.search(r"^-- Returns ", text, re.MULTILINE), text
    assert f"-- Python side: {name}() in memmark/redis/_protocol.py." in header


def test_every_script_carries_the_shared_code_it_calls_then_its_own() -> None:
    prelude = (LUA / PRELUDE).read_bytes()
    shared = shared_code(LUA)
    assert shared.startswith(prelude)
    assert b"local function write_appended(" in shared
    for name, script in scripts().items():
        body = (LUA / f"{name}.lua").read_bytes()
        assert script.name == name
        assert script.source == trimmed(shared, body) + body
        # The prelude's opening (the key names, the TTL) is in every script.
        opening = b"local TTL = tonumber(ARGV[1])\n"
        assert script.source.startswith(prelude[: prelude.index(opening) + len(opening)])


def test_trimming_keeps_what_a_script_reaches_and_drops_the_rest() -> None:
    shared = shared_code(LUA)
    defined = set(re.findall(r"^local function (\w+)", shared.decode(), re.MULTILINE))
    sources = {name: script.source.decode() for name, script in scripts().items()}

    def carried(name: str) -> set[str]:
        return set(re.findall(r"^local function (\w+)", sources[name], re.MULTILINE))

    assert carried("size") == {"slide_expiry"}
    # delete reaches delete_messages, which reaches the mark helpers in turn.
    assert {"delete_messages", "scores_of", "marks_of", "unindex", "split_marks"} <= carried(
        "delete"
    )
    assert "remark_messages" not in carried("delete")
    # apply runs every shared operation.
    assert {"add_messages", "upsert_messages", "delete_marked", "remark_messages"} <= carried(
        "apply"
    )
    # Trimming only drops whole functions: with none dropped it gives the code back.
    assert trimmed(shared, " ".join(defined).encode()) == shared
    for name, source in sources.items():
        code = re.sub(r"--[^\n]*", "", source)
        for function in defined - carried(name):
            assert not re.search(rf"\b{function}\b", code), (name, function)


# -- the stored format ----------------------------------------------------------------
#
# The keys and bytes below are written out by hand, as the layout documented in
# docs/redis.md: a session stored by any earlier version reads back, and
# what this version writes is byte for byte that layout.


@pytest.fixture(params=["fake", BY_ID["redis"].param("redis")])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "fake":
        fake = fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer())
        yield fake
        await fake.aclose()
        return
    real = aioredis.Redis.from_url(request.getfixturevalue("redis_url"))
    prefix = key_prefix()
    real.test_prefix = prefix  # type: ignore[attr-defined]
    try:
        yield real
    finally:
        await drop_keys(real, prefix)
        await real.aclose()


def _prefix(client: Any) -> str:
    return getattr(client, "test_prefix", "app:")


def _keys(prefix: str, user: str, session: str) -> dict[str, bytes]:
    raw = b"%d:%s%s" % (len(user.encode()), user.encode(), session.encode())
    base = prefix.encode() + b"{" + base64.urlsafe_b64encode(raw) + b"}"
    return {name: base + b":" + name.encode() for name in "soixkvujb"}


def _payload(msg_id: str, content: str, invocation_id: str | None = None) -> bytes:
    fields = [msg_id, "Ann", "user", content, {"n": 1}, "2024-01-02 03:04:05.678", invocation_id]
    return bytes(msgpack.packb(fields, use_bin_type=True))


def _entry(mark: str, seq: int, payload: bytes) -> bytes:
    return b"%d:%s%016d%s" % (len(mark.encode()), mark.encode(), seq, payload)


async def _write_by_hand(client: Any, keys: dict[str, bytes]) -> None:
    one, two, three = _payload("m1", "first"), _payload("m2", "second", "inv"), _payload("m3", "x")
    await client.set(keys["s"], "the summary")
    await client.zadd(keys["o"], {one: 1, two: 2, three: 3})
    await client.zadd(keys["i"], {"m1": 1, "m2": 2, "m3": 3})
    await client.hset(keys["x"], mapping={"m1": b"1:a", "m2": b"1:a5:\xc3\xa9tat"})
    await client.zadd(keys["k"], {_entry("a", 1, one): 0, _entry("a", 2, two): 0})
    await client.zadd(keys["k"], {_entry("\u00e9tat", 2, two): 0})


async def test_a_session_written_in_the_stored_format_reads_back(client: Any) -> None:
    prefix = _prefix(client)
    await _write_by_hand(client, _keys(prefix, "u", "s"))
    memory = RedisMemory(user_id="u", session_id="s", client=client, key_prefix=prefix)
    got = await memory.get_memory()
    assert (got[0].name, got[0].content) == ("user", "the summary")
    assert [(m.id, m.content) for m in got[1:]] == [("m1", "first"), ("m2", "second"), ("m3", "x")]
    assert got[2].to_dict() == {
        "id": "m2",
        "name": "Ann",
        "role": "user",
        "content": "second",
        "metadata": {"n": 1},
        "timestamp": "2024-01-02 03:04:05.678",
        "invocation_id": "inv",
    }
    assert [m.id for m in await memory.get_memory(mark="a", prepend_summary=False)] == ["m1", "m2"]
    assert [m.id for m in await memory.get_memory(mark="\u00e9tat", prepend_summary=False)] == [
        "m2"
    ]
    assert [m.id for m in await memory.get_memory(exclude_mark="a", prepend_summary=False)] == [
        "m3"
    ]
    state = await memory.export_state()
    assert [(d["id"], marks) for d, marks in state["content"]] == [
        ("m1", ["a"]),
        ("m2", ["a", "\u00e9tat"]),
        ("m3", []),
    ]
    assert state["_compressed_summary"] == "the summary"
    assert await memory.delete_by_mark("\u00e9tat") == 1
    assert [m.id for m in await memory.get_memory(mark="a", prepend_summary=False)] == ["m1"]


async def test_what_is_written_is_the_stored_format(client: Any) -> None:
    prefix = _prefix(client)
    memory = RedisMemory(user_id="u", session_id="s", client=client, key_prefix=prefix)
    first = Msg("Ann", "first", "user", metadata={"n": 1}, timestamp="2024-01-02 03:04:05.678")
    second = Msg("Ann", "second", "user", metadata={"n": 1}, timestamp="2024-01-02 03:04:05.678")
    first.id, second.id = "m1", "m2"
    second.invocation_id = "inv"
    await memory.add(first, marks="a")
    await memory.add(second, marks=["a", "\u00e9tat"])
    await memory.update_compressed_summary("the summary")

    by_hand = fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer())
    want = _keys("app:", "u", "s")
    await _write_by_hand(by_hand, want)
    await by_hand.zremrangebyscore(want["o"], 3, 3)
    await by_hand.zremrangebyscore(want["i"], 3, 3)
    keys = _keys(prefix, "u", "s")
    assert memory.keys == tuple(keys.values())
    assert await client.get(keys["s"]) == await by_hand.get(want["s"])
    for name in "oik":
        stored = await client.zrange(keys[name], 0, -1, withscores=True)
        assert stored == await by_hand.zrange(want[name], 0, -1, withscores=True), name
    assert await client.hgetall(keys["x"]) == await by_hand.hgetall(want["x"])
    await by_hand.aclose()
    # The state slot is the compact JSON text the core encodes, as UTF-8.
    assert await client.get(keys["j"]) is None
    await memory.set_session_state({"step": 2, "\u00e9": [1]})
    assert await client.get(keys["j"]) == '{"step":2,"\u00e9":[1]}'.encode()
