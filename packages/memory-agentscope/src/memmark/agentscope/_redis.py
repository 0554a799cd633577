"""AgentScope's ``RedisMemory``, kept by memmark's Redis memory."""

from __future__ import annotations

from typing import Any

from memmark.agentscope._adapter import StoredMemory, takes_arguments_of
from memmark.redis import RedisMemory as CoreRedisMemory


class RedisMemory(StoredMemory[CoreRedisMemory]):
    """One ``(user_id, session_id)`` in Redis; every call is one atomic script.

    Takes the arguments of ``agentscope.memory.RedisMemory`` keyword for
    keyword (extra keyword arguments go to the client, as there), plus
    memmark's ``client=`` and ``url=``. Works over a pool that decodes
    responses or one that does not. The summary is stored with the session.

    Reads come from the backend's per-process cache of decoded sessions, so
    each message is converted to AgentScope's ``Msg`` once and the same
    object comes back read after read: treat returned messages as read-only
    (see :class:`~memmark.agentscope.MemmarkMemory`).

    Args:
        session_id: The conversation.
        user_id: Its owner.
        host: Redis host, when no pool, client or URL is given.
        port: Redis port, likewise.
        db: Database number, likewise.
        password: Password, likewise.
        connection_pool: A ``redis.asyncio.ConnectionPool`` to share.
        key_prefix: Prepended to every key of the session.
        key_ttl: Seconds after the last call at which the keys expire.
        client: An existing ``redis.asyncio.Redis`` or ``RedisCluster``.
        url: A ``redis://`` URL.
        message_cache: The backend's cache of decoded sessions (see
            ``memmark.redis.RedisMemory``); ``False`` to switch it off.
        **client_kwargs: Passed to the client this memory makes.
    """

    @takes_arguments_of(CoreRedisMemory)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(CoreRedisMemory(*args, **kwargs))

    @property
    def key_ttl(self) -> float | None:
        """Seconds after the last call at which the session's keys expire, or ``None``."""
        return self._backend.key_ttl

    @key_ttl.setter
    def key_ttl(self, value: float | None) -> None:
        self._backend.key_ttl = value

    def get_client(self) -> Any:
        """Return the ``redis.asyncio`` client the memory talks through."""
        return self._backend.get_client()

    async def close(self, close_connection_pool: bool | None = None) -> None:
        """Close the client if the memory made it; a client or pool passed in stays open.

        Args:
            close_connection_pool: ``True`` also disconnects the pool the
                client uses, passed in or not, as AgentScope's argument does.
        """
        await self._backend.close()
        if close_connection_pool:
            pool = getattr(self._backend.get_client(), "connection_pool", None)
            if pool is not None:
                await pool.disconnect()
