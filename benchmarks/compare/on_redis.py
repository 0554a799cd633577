"""Redis rows of the comparison: memmark's RedisMemory against the peer's, and raw floors.

Both memories run on the same server (the backend table's ``redis``:
``MEMMARK_REDIS_URL``, db 15 by default) under different key prefixes: without
a key TTL, again with memmark's message cache switched off (its reads of an
unchanged session otherwise move no payloads), then with a key TTL. The
floors are what the bare client pays for the least it could do: a PING, an
EVALSHA of an empty script, an HGETALL of the session's payloads.
They are timed twice: alone, and interleaved with the peer's call of the
row they bound, as memmark's calls are. A short call right after a long
peer call runs on cold caches: on a loaded 2-core machine an empty EVALSHA
takes about 110 µs there against 60 µs alone, so only the interleaved floor
says how close a memmark row is to what the client could do at best.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis.asyncio as aioredis

from benchmarks.compare.timing import Call, Config, Row, Table, compare_rows, side_by_side
from benchmarks.operations import Side
from memmark.core import Msg
from memmark.redis import RedisMemory
from tests.backends import BY_ID, drop_keys

TTL_SECONDS = 3600


async def _floors(
    table: Table, cfg: Config, client: aioredis.Redis, key: str, empty_script: Call
) -> None:
    shape = cfg.corpus.shape
    await client.ping()
    _, ping = await side_by_side(None, client.ping, rounds=cfg.rounds)
    table.add(Row("floor: PING", "redis", shape, None, ping, "raw client"))
    _, evalsha = await side_by_side(None, empty_script, rounds=cfg.rounds)
    table.add(Row("floor: EVALSHA empty script", "redis", shape, None, evalsha, "raw client"))
    _, hgetall = await side_by_side(None, lambda: client.hgetall(key), rounds=cfg.rounds)
    table.add(
        Row(f"floor: HGETALL {cfg.messages} payloads", "redis", shape, None, hgetall, "raw client")
    )


async def _section(
    table: Table,
    cfg: Config,
    client: aioredis.Redis,
    key_ttl: int | None,
    rounds: int,
    empty_script: Call,
    fields: dict[str, str],
    message_cache: bool = True,
) -> None:
    from agentscope.memory import RedisMemory as PeerMemory
    from agentscope.message import Msg as PeerMsg

    run_id = uuid.uuid4().hex
    peer_prefix, our_prefix = f"bench-peer:{run_id}:", f"bench-memmark:{run_id}:"
    backend = "redis" if key_ttl is None else "redis, key_ttl"
    if not message_cache:
        backend += ", no message cache"
    peer_memory = PeerMemory(
        connection_pool=client.connection_pool, key_prefix=peer_prefix, key_ttl=key_ttl
    )
    our_memory = RedisMemory(
        client=client, key_prefix=our_prefix, key_ttl=key_ttl, message_cache=message_cache
    )
    peer = Side(peer_memory, PeerMsg, cfg.corpus, native_limit=False)
    ours = Side(our_memory, Msg, cfg.corpus)
    floor_hash = f"{our_prefix}floor-hash"

    async def hgetall() -> Any:
        return await client.hgetall(floor_hash)

    try:
        await client.hset(floor_hash, mapping=fields)  # type: ignore[arg-type]
        await compare_rows(
            table,
            cfg,
            backend,
            peer,
            ours,
            rounds=rounds,
            floors={
                "add_1": ("floor: EVALSHA empty (add 1)", empty_script),
                "get_all": (f"floor: HGETALL {cfg.messages} (get all)", hgetall),
                "get_mark": ("floor: EVALSHA empty (get mark)", empty_script),
                "size": ("floor: EVALSHA empty (size)", empty_script),
                "delete_1": ("floor: EVALSHA empty (delete 1)", empty_script),
            },
        )
    finally:
        await drop_keys(client, peer_prefix)
        await drop_keys(client, our_prefix)


async def run(table: Table, cfg: Config) -> None:
    """Measure the Redis rows: floors, then both memories without and with a key TTL."""
    client = aioredis.Redis.from_url(BY_ID["redis"].url)
    prefix = f"bench-floor:{uuid.uuid4().hex}:"
    sha = await client.script_load("return 0")

    async def empty_script() -> Any:
        return await client.execute_command("EVALSHA", sha, 0)

    # The session's messages as a plain hash of JSON: what an HGETALL floor reads.
    fields = {
        f"id-{i}": json.dumps(message.to_dict())
        for i, (message, _) in enumerate(cfg.corpus.session(Msg, cfg.messages))
    }
    try:
        await client.hset(f"{prefix}floor-hash", mapping=fields)  # type: ignore[arg-type]
        await _floors(table, cfg, client, f"{prefix}floor-hash", empty_script)
        await _section(table, cfg, client, None, cfg.rounds, empty_script, fields)
        # Reads of an unchanged session come from the message cache above;
        # without it every read moves and decodes the payloads.
        await _section(table, cfg, client, None, cfg.rounds, empty_script, fields, False)
        # The peer scans the keyspace on every call with a TTL; fewer rounds
        # keep the run short, and a median of 50 is still steady.
        ttl_rounds = max(20, cfg.rounds // 4)
        await _section(table, cfg, client, TTL_SECONDS, ttl_rounds, empty_script, fields)
    finally:
        await drop_keys(client, prefix)
        await client.aclose()
