"""Open a Redis memory from a URL, on one shared client per URL per process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import redis.asyncio as aioredis

from memmark.core.urls import SharedResources, mask_password, url_scheme
from memmark.redis._client import DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, client_defaults

if TYPE_CHECKING:
    from memmark.redis._memory import RedisMemory

_M = TypeVar("_M", bound="RedisMemory")

SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster")
"""The URL schemes memmark-redis opens."""

_clients: SharedResources[Any] = SharedResources(lambda client: client.aclose())


def shared_client(
    url: str,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
    **client_kwargs: Any,
) -> Any:
    """Return the process's client for ``url``, making it on first use.

    ``redis://`` and ``rediss://`` make a ``redis.asyncio.Redis``;
    ``redis+cluster://`` and ``rediss+cluster://`` a ``RedisCluster`` that
    discovers the other nodes from the one named.

    Args:
        url: The server's URL.
        connect_timeout: Seconds a new connection may take.
        command_timeout: Seconds a command may wait for its reply.
        **client_kwargs: Passed to the client the first time.
    """
    scheme = url_scheme(url)
    if scheme not in SCHEMES:
        raise ValueError(
            f"url: memmark-redis serves {', '.join(SCHEMES)}, "
            f"not {scheme!r}:// ({mask_password(url)!r})"
        )
    cluster = scheme.endswith("+cluster")
    plain = scheme.removesuffix("+cluster") + "://" + url.partition("://")[2]
    options = {**client_defaults(connect_timeout, command_timeout), **client_kwargs}
    key = repr((scheme, plain, sorted((k, v) for k, v in options.items() if k != "retry")))
    kind = aioredis.RedisCluster if cluster else aioredis.Redis
    return _clients.get(key, lambda: kind.from_url(plain, **options))


def open_memory(
    url: str,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    key_prefix: str = "",
    key_ttl: float | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
    memory_class: type[_M],
    **client_kwargs: Any,
) -> _M:
    """Open the memory of one pair on the Redis ``url`` names, on the shared client.

    What ``RedisMemory.from_url`` runs, and so ``memmark.core.connect`` for
    Redis URLs (whose entry point ``from_url`` is).

    Args:
        url: ``redis://``, ``rediss://``, ``redis+cluster://`` or ``rediss+cluster://``.
        user_id: The user; ``None`` means ``"default_user"``.
        session_id: The session; ``None`` means ``"default_session"``.
        key_prefix: Put in front of every key.
        key_ttl: Seconds of inactivity after which the session's keys expire.
        connect_timeout: Seconds a new connection may take.
        command_timeout: Seconds a command may wait for its reply.
        memory_class: The class to make: ``RedisMemory`` or a subclass,
            whose ``from_url`` calls this.
        **client_kwargs: Passed to the client the first time.

    Returns:
        A :class:`~memmark.redis.RedisMemory` (of ``memory_class``).
    """
    client = shared_client(
        url, connect_timeout=connect_timeout, command_timeout=command_timeout, **client_kwargs
    )
    return memory_class(
        session_id=session_id,
        user_id=user_id,
        key_prefix=key_prefix,
        key_ttl=key_ttl,
        client=client,
    )
