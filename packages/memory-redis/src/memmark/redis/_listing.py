"""Listing a store's sessions: ``SCAN`` for their version keys, then one read per session.

A session's keys share one hash tag, but a user's sessions (and a store's)
are spread over every slot, so no key could index them without a second
slot in every write, which one atomic script cannot touch on Redis Cluster.
Listing therefore walks the keyspace: ``SCAN`` on the single server, or on
every primary of a cluster, costing O(keys in the database). It is an
administration and CLI operation, not one for a request path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from memmark.core.sessions import SessionInfo
from memmark.redis._keys import session_keys, session_of, version_key_pattern
from memmark.redis._protocol import session_infos

SCAN_COUNT = 1000
"""The ``COUNT`` hint of each ``SCAN`` call: keys the server looks at per round trip."""


async def _scan(client: Any, pattern: bytes) -> AsyncIterator[bytes]:
    """Yield every key matching ``pattern`` (maybe twice: ``SCAN`` may repeat one)."""
    if isinstance(client, aioredis.RedisCluster):
        await client.initialize()  # a no-op once the client knows its nodes
        nodes = client.get_primaries()
    else:
        nodes = [client]
    for node in nodes:
        cursor = 0
        while True:
            # NEVER_DECODE: keys stay bytes, whatever the client decodes.
            cursor, keys = await node.execute_command(
                "SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT, NEVER_DECODE=True
            )
            for key in keys:
                yield key
            cursor = int(cursor)
            if cursor == 0:
                break


async def store_sessions(client: Any, key_prefix: str, user_id: str | None) -> list[SessionInfo]:
    """Return every session under ``key_prefix`` that has a version, in no order.

    Sessions written before versions existed are found from their next
    write. A session deleted between the ``SCAN`` and its read is left out.

    Args:
        client: A ``redis.asyncio`` client (``Redis`` or ``RedisCluster``).
        key_prefix: The memories' ``key_prefix``.
        user_id: Only this user's sessions; ``None`` for every user's.
    """
    pairs: dict[tuple[str, str], None] = {}
    async for key in _scan(client, version_key_pattern(key_prefix)):
        pair = session_of(key_prefix, key)
        if pair is not None and (user_id is None or pair[0] == user_id):
            pairs[pair] = None
    found = list(pairs)
    replies = await session_infos(client, [session_keys(key_prefix, u, s) for u, s in found])
    return [
        SessionInfo(user, session, reply.size, reply.version, reply.updated / 1_000_000)
        for (user, session), reply in zip(found, replies, strict=True)
        if reply.version  # deleted (or expired) since the scan
    ]
