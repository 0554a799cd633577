"""Redis rows of the comparison: memmark's RedisMemory against the peer's, each with its floor.

Both memories run on the same server (the backend table's ``redis``:
``MEMMARK_REDIS_URL``, db 15 by default) under different key prefixes: without
a key TTL, again with memmark's message cache switched off (its reads of an
unchanged session otherwise move no payloads), then with a key TTL. Every row
carries its floor (``benchmarks/compare/floors.py``: an empty ``EVALSHA``, a
``ZCARD``, an ``HGETALL``/``HMGET`` of the same payloads and their decoding),
timed in the same loop between the same calls: a short call right after a
long peer call runs on cold caches (on a loaded 2-core machine an empty
EVALSHA takes about 110 µs there against 60 µs alone), so only a floor timed
that way says how close a row is to what the client could do at best.
"""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from benchmarks.compare import batched_turn
from benchmarks.compare.floors import redis_floors
from benchmarks.compare.timing import Config, Table, compare_rows
from benchmarks.operations import Side
from memmark.core import Msg
from memmark.redis import RedisMemory
from tests.backends import BY_ID, drop_keys

TTL_SECONDS = 3600


async def _section(
    table: Table,
    cfg: Config,
    client: aioredis.Redis,
    key_ttl: int | None,
    rounds: int,
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
    floor_memory = RedisMemory(
        client=client, key_prefix=our_prefix, session_id="floor", message_cache=False
    )
    try:
        floors = await redis_floors(client, floor_memory, cfg.corpus, cfg.messages)
        await compare_rows(table, cfg, backend, peer, ours, rounds=rounds, floors=floors)
    finally:
        await drop_keys(client, peer_prefix)
        await drop_keys(client, our_prefix)


async def run(table: Table, cfg: Config) -> None:
    """Measure the Redis rows: both memories without and with a key TTL, each with floors."""
    client = aioredis.Redis.from_url(BY_ID["redis"].url)
    try:
        await _section(table, cfg, client, None, cfg.rounds)
        # A turn's writes as one batch, as separate calls, and their floor.
        await batched_turn.rows(table, cfg, client)
        # Reads of an unchanged session come from the message cache above;
        # without it every read moves and decodes the payloads.
        await _section(table, cfg, client, None, cfg.rounds, message_cache=False)
        # The peer scans the keyspace on every call with a TTL; fewer rounds
        # keep the run short, and a median of 50 is still steady.
        ttl_rounds = max(20, cfg.rounds // 4)
        await _section(table, cfg, client, TTL_SECONDS, ttl_rounds)
    finally:
        await client.aclose()
