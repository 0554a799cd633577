"""Every script run is bounded by bytes as well as by count.

A session of a few multi-megabyte messages would otherwise make one script
read or write tens of megabytes, blocking every other client of the server
for hundreds of milliseconds. Each call below runs on such a session on a
server of the test's own with SLOWLOG logging every command; each call must
give what the in-process memory gives, take one script run at least per
message whose payload it reads, copies or writes (each message is over
RUN_BYTES, so a run holds one), and no run may take much longer than the
run that writes one such message alone (the least any script can do with
it); the SLOWLOG durations are what the server was blocked for. Before
scripts counted bytes, single runs of the reads and re-marks took 150 to
460 ms here, one run for all eight messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from memmark.core import InMemoryMemory, MemoryBase, Msg
from memmark.redis import RedisMemory, _memory
from memmark.redis._memory import RUN_BYTES
from memmark.redis._scripts import lua_dir, scripts
from tests.backends import key_prefix
from tests.redis.test_redis_memory import _same, remark_delete_and_reimport
from tests.servers import RedisServer

MESSAGES = 8
MESSAGE_BYTES = 5 << 20


def _heavy(prefix: str, count: int = MESSAGES) -> list[Msg]:
    out = []
    for i in range(count):
        msg = Msg("rel", chr(ord("a") + i) * MESSAGE_BYTES, "user", timestamp="2026-01-15 12:00")
        msg.id = f"{prefix}{i}"
        out.append(msg)
    return out


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return [
            (d["id"], len(d["content"]), d["content"][:1], sorted(m)) for d, m in value["content"]
        ]
    if isinstance(value, list):
        return [(m.id, len(m.content), m.content[:1]) for m in value]
    return value


Call = Callable[[MemoryBase], Awaitable[Any]]

CALLS: dict[str, Call] = {
    "get_memory": lambda m: m.get_memory(),
    "get_memory mark": lambda m: m.get_memory(mark="even"),
    "get_memory exclude": lambda m: m.get_memory(exclude_mark="even"),
    "get_memory limit": lambda m: m.get_memory(limit=5),
    "export_state": lambda m: m.export_state(),
    "update_messages_mark new old": lambda m: m.update_messages_mark("moved", old_mark="even"),
    "update_messages_mark new": lambda m: m.update_messages_mark("every"),
    "update_messages_mark ids": lambda m: m.update_messages_mark(
        "picked", msg_ids=[f"h{i}" for i in range(MESSAGES)]
    ),
    "delete_by_mark": lambda m: m.delete_by_mark(["even", "all"]),
    "add": lambda m: m.add(_heavy("n"), ["all", "new"]),
    "import_state": lambda m: m.import_state(
        {"content": [[msg.to_dict(), ["all", "x"]] for msg in _heavy("i")]}
    ),
    "delete": lambda m: m.delete([f"h{i}" for i in range(MESSAGES)]),
}

HALF = MESSAGES // 2
MIN_RUNS = {
    "get_memory": MESSAGES,
    "get_memory mark": HALF,
    "get_memory exclude": HALF,
    "get_memory limit": 5,
    "export_state": MESSAGES,
    "update_messages_mark new old": HALF,
    "update_messages_mark new": MESSAGES,
    "update_messages_mark ids": MESSAGES,
    "delete_by_mark": MESSAGES,
    "add": MESSAGES,
    "import_state": MESSAGES,
    "delete": 1,  # removes payloads without reading them
}
"""The fewest script runs each call can take when a run holds one heavy message."""


@pytest_asyncio.fixture
async def slow_logged(own_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(own_server.url)
    await client.config_set("slowlog-log-slower-than", 0)
    await client.config_set("slowlog-max-len", 10_000)
    try:
        yield client
    finally:
        await client.aclose()


async def _seed(memory: MemoryBase) -> None:
    msgs = _heavy("h")
    await memory.add(msgs[0::2], ["all", "even"])
    await memory.add(msgs[1::2], ["all"])


def test_lua_and_python_agree_on_run_bytes() -> None:
    assert f"local RUN_BYTES = {RUN_BYTES}\n" in (lua_dir() / "_common.lua").read_text()


async def _runs(client: aioredis.Redis) -> list[tuple[float, str]]:
    """Each ``EVALSHA`` in SLOWLOG since the last reset: its milliseconds and its script."""
    names = {script.sha: script_name for script_name, script in scripts().items()}
    runs = []
    for entry in await client.slowlog_get(10_000):
        command = entry["command"]
        words = (
            command.decode(errors="replace") if isinstance(command, bytes) else command
        ).split()
        if words and words[0].upper() == "EVALSHA":
            runs.append((entry["duration"] / 1000, names.get(words[1], words[1])))
    await client.slowlog_reset()
    return runs


@pytest.mark.parametrize("name", list(CALLS))
async def test_no_script_run_passes_the_byte_bound(slow_logged: aioredis.Redis, name: str) -> None:
    memory = RedisMemory(client=slow_logged, key_prefix=key_prefix())
    model = InMemoryMemory()
    # The reference: the least a script can do with one heavy message (write
    # it with two marks, three copies), timed on the same server just before.
    alone = RedisMemory(client=slow_logged, key_prefix=key_prefix())
    await slow_logged.slowlog_reset()
    for _ in range(3):
        await alone.add(_heavy("ref", 1), ["all", "new"])
        await alone.clear()
    reference = sorted(ms for ms, _ in await _runs(slow_logged))[-2]  # the median add
    await _seed(memory)
    await _seed(model)
    await slow_logged.slowlog_reset()

    got = await CALLS[name](memory)
    runs = await _runs(slow_logged)

    assert _canonical(got) == _canonical(await CALLS[name](model))
    assert _canonical(await memory.export_state()) == _canonical(await model.export_state())
    assert len(runs) >= MIN_RUNS[name], runs
    slowest = max(runs)
    # The run count above is the exact check; the time is a guard with room
    # for a loaded machine, which stretches runs unevenly (the same one-message
    # add took 41 to 111 ms in one call here), while one run over all eight
    # messages takes a dozen times the reference.
    assert slowest[0] <= 4 * reference + 50, (
        f"{slowest[1]} ran {slowest[0]:.1f} ms, one message alone {reference:.1f} ms; {runs}"
    )
    await memory.delete_session()


def _wide(i: int) -> Msg:
    msg = Msg("rel", f"{i:04d}" * 64_000, "user", timestamp="2026-01-15 12:00")  # 256 KB
    msg.id = f"id{i}"
    return msg


@pytest.mark.parametrize("budgets", ["whole", "small"])
async def test_heavy_session_paged_by_bytes_stays_right(
    slow_logged: aioredis.Redis, budgets: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 31 messages of 256 KB (7.9 MB): every script takes its paged path, each
    # run a few pages of one, two, four... messages; with the count budgets
    # at 3 as well, both bounds cut the same calls.
    if budgets == "small":
        for name in ("ADD_BUDGET", "DELETE_BUDGET", "DELETE_BY_MARK_BUDGET", "UPDATE_BUDGET",
                     "READ_BUDGET", "EXPORT_BUDGET", "IMPORT_BUDGET"):  # fmt: skip
            monkeypatch.setattr(_memory, name, 3)
    memory = RedisMemory(client=slow_logged, key_prefix=key_prefix())
    model = InMemoryMemory()
    batches = [
        ([_wide(i) for i in range(10)], ["a"]),
        ([_wide(i) for i in range(5, 20)], None),
        ([_wide(i) for i in range(20, 31)], ["a", "b", "c"]),
    ]
    try:
        for msgs, marks in batches:
            await memory.add(msgs, marks=marks)
            await model.add(msgs, marks=marks)
        await _same(memory, model)
        await remark_delete_and_reimport(memory, model)
    finally:
        await memory.delete_session()


async def test_session_too_long_to_weigh_counts_bytes_and_stays_right(
    slow_logged: aioredis.Redis,
) -> None:
    # Over 8,192 messages a script does not weigh the session (that would walk
    # every member): it counts bytes page by page, however small the messages.
    memory = RedisMemory(client=slow_logged, key_prefix=key_prefix())
    model = InMemoryMemory()
    msgs = []
    for i in range(9000):
        msg = Msg("rel", f"small {i}", "user", timestamp="2026-01-15 12:00")
        msg.id = f"id{i}"
        msgs.append(msg)
    try:
        for start in range(0, len(msgs), 1000):
            marks = ["a"] if start % 2000 == 0 else ["b"]
            await memory.add(msgs[start : start + 1000], marks)
            await model.add(msgs[start : start + 1000], marks)
        await _same(memory, model)
        assert await memory.update_messages_mark("c", old_mark="a") == (
            await model.update_messages_mark("c", old_mark="a")
        )
        assert await memory.delete_by_mark("b") == await model.delete_by_mark("b")
        await _same(memory, model)
    finally:
        await memory.delete_session()
