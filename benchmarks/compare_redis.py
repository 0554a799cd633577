"""Redis rows of ``compare.py``: memmark's RedisMemory against the peer's, and raw floors.

Both memories run on the same server (``MEMMARK_REDIS_URL``, db 15 by
default) under different key prefixes, first without and then with a key
TTL. The floors are what the bare client pays for the least it could do:
a PING, an EVALSHA of an empty script, an HGETALL of the session's payloads.
They are timed twice: alone, and interleaved with the peer's call of the
row they bound, as memmark's calls are. A short call right after a long
peer call runs on cold caches: on a loaded 2-core machine an empty EVALSHA
takes about 110 µs there against 60 µs alone, so only the interleaved floor
says how close a memmark row is to what the client could do at best.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from _harness import Config, Contract, Row, Step, Table, payload, side_by_side

from memmark.core import Msg
from memmark.redis import RedisMemory

REDIS_URL = os.environ.get("MEMMARK_REDIS_URL", "redis://127.0.0.1:6379/15")
TTL_SECONDS = 3600


async def _drop(client: aioredis.Redis, prefix: str) -> None:
    # Benchmark clean-up only; the library itself never scans.
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    for start in range(0, len(keys), 500):
        await client.delete(*keys[start : start + 500])


Call = Callable[[], Awaitable[Any]]


async def _floors(
    table: Table, cfg: Config, client: aioredis.Redis, key: str, empty_script: Call
) -> None:
    await client.ping()
    _, ping = await side_by_side(None, client.ping, rounds=cfg.rounds)
    table.add(Row("floor: PING", "redis", None, ping, "raw client"))
    _, evalsha = await side_by_side(None, empty_script, rounds=cfg.rounds)
    table.add(Row("floor: EVALSHA empty script", "redis", None, evalsha, "raw client"))
    _, hgetall = await side_by_side(None, lambda: client.hgetall(key), rounds=cfg.rounds)
    table.add(Row(f"floor: HGETALL {cfg.messages} payloads", "redis", None, hgetall, "raw client"))


async def _section(
    table: Table,
    cfg: Config,
    client: aioredis.Redis,
    key_ttl: int | None,
    rounds: int,
    empty_script: Call,
    fields: dict[str, str],
) -> None:
    from agentscope.memory import RedisMemory as PeerMemory
    from agentscope.message import Msg as PeerMsg

    run_id = uuid.uuid4().hex
    peer_prefix, our_prefix = f"bench-peer:{run_id}:", f"bench-memmark:{run_id}:"
    backend = "redis" if key_ttl is None else "redis, key_ttl"
    peer = PeerMemory(
        connection_pool=client.connection_pool, key_prefix=peer_prefix, key_ttl=key_ttl
    )
    ours = RedisMemory(client=client, key_prefix=our_prefix, key_ttl=key_ttl)
    floor_hash = f"{our_prefix}floor-hash"

    async def floor(op: str, step: Step, call: Call) -> None:
        # The peer's time is not shown: its row already gives it.
        _, us = await side_by_side(step.call, call, rounds=rounds, peer_setup=step.setup)
        table.add(Row(op, backend, None, us, "raw client, between peer calls"))

    try:
        rows = Contract(table, cfg, backend, peer, ours, PeerMsg, Msg, rounds)
        await rows.fill()
        await floor("floor: EVALSHA empty (add 1)", await rows.add_one(), empty_script)
        await rows.add_batch()
        step = await rows.get_all()
        await client.hset(floor_hash, mapping=fields)  # type: ignore[arg-type]
        await floor(
            f"floor: HGETALL {cfg.messages} (get all)", step, lambda: client.hgetall(floor_hash)
        )
        await floor("floor: EVALSHA empty (get mark)", await rows.get_mark(), empty_script)
        await floor("floor: EVALSHA empty (delete 1)", await rows.delete_one(), empty_script)
        await rows.delete_by_mark()
        await rows.update_marks()
    finally:
        await _drop(client, peer_prefix)
        await _drop(client, our_prefix)


async def run(table: Table, cfg: Config) -> None:
    """Measure the Redis rows: floors, then both memories without and with a key TTL."""
    client = aioredis.Redis.from_url(REDIS_URL)
    prefix = f"bench-floor:{uuid.uuid4().hex}:"
    sha = await client.script_load("return 0")

    async def empty_script() -> Any:
        return await client.execute_command("EVALSHA", sha, 0)

    # The session's payloads as a plain hash: what an HGETALL floor reads.
    fields = {f"id-{i}": payload(i, cfg.payload_bytes) for i in range(cfg.messages)}
    try:
        await client.hset(f"{prefix}floor-hash", mapping=fields)  # type: ignore[arg-type]
        await _floors(table, cfg, client, f"{prefix}floor-hash", empty_script)
        await _section(table, cfg, client, None, cfg.rounds, empty_script, fields)
        # The peer scans the keyspace on every call with a TTL; fewer rounds
        # keep the run short, and a median of 50 is still steady.
        ttl_rounds = max(20, cfg.rounds // 4)
        await _section(table, cfg, client, TTL_SECONDS, ttl_rounds, empty_script, fields)
    finally:
        await _drop(client, prefix)
        await client.aclose()
