"""The redis-py client a memory talks through, and how the message cache names it.

A memory uses the client it is given, or makes one from a URL, a connection
pool or a host; either way the clients memmark makes get the same bounded
timeouts and no retries of their own (:func:`client_defaults`).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from memmark.redis._keys import SessionKeys
from memmark.redis._protocol import server_label

DEFAULT_CONNECT_TIMEOUT = 5.0
"""Seconds a new connection may take before it fails."""

DEFAULT_COMMAND_TIMEOUT = 5.0
"""Seconds a command may wait for its reply; every script is bounded to far less."""


def client_defaults(
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
) -> dict[str, Any]:
    """The redis-py options every client memmark makes starts from.

    redis-py's own default retries a refused or silent connection ten times
    with back-off (7 s on a closed port, a minute on a silent server);
    memmark retries a lost connection once itself, so its clients fail at
    once and name the server. The timeouts are bounded whatever redis-py's
    defaults (none before redis-py 6).
    """
    return {
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": command_timeout,
        "retry": Retry(NoBackoff(), 0),
    }


def one_source(
    client: Any, url: str | None, connection_pool: aioredis.ConnectionPool | None
) -> None:
    """Refuse a memory given more than one of ``client``, ``url``, ``connection_pool``.

    Raises:
        ValueError: More than one is given.
    """
    given = [
        n
        for n, v in (("client", client), ("url", url), ("connection_pool", connection_pool))
        if v is not None
    ]
    if len(given) > 1:
        raise ValueError(f"give at most one of client, url, connection_pool; got {given}")


def make_client(
    url: str | None,
    connection_pool: aioredis.ConnectionPool | None,
    address: tuple[str, int, int, str | None],
    client_kwargs: dict[str, Any],
) -> Any:
    """Make a memory's own client from ``url``, else ``connection_pool``, else ``address``.

    Args:
        url: A ``redis://`` URL, or ``None``.
        connection_pool: A pool to make the client on, or ``None``.
        address: Host, port, database number and password, when neither is given.
        client_kwargs: Passed to the client, over :func:`client_defaults`.
    """
    options = {**client_defaults(), **client_kwargs}
    if url is not None:
        return aioredis.Redis.from_url(url, **options)
    if connection_pool is not None:
        return aioredis.Redis(connection_pool=connection_pool, **options)
    host, port, db, password = address
    return aioredis.Redis(host=host, port=port, db=db, password=password, **options)


def cache_key(client: Any, keys: SessionKeys) -> Hashable:
    """Name a session on a server, for the message cache."""
    pool = getattr(client, "connection_pool", None)
    # An in-process server (fakeredis) has no address of its own.
    server = None if pool is None else pool.connection_kwargs.get("server")
    return (server_label(client), id(server), keys.version)
