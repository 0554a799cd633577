"""Where the test servers are, and what to do when one does not answer.

On a laptop a missing server skips its tests with the reason. With
``MEMMARK_REQUIRE_SERVERS=1`` (CI) a missing server fails the run instead, so
a green CI run really exercised every backend.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

PG_URL = os.environ.get("MEMMARK_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("MEMMARK_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("MEMMARK_REDIS_URL", "redis://127.0.0.1:6379/15")

REQUIRE_SERVERS = os.environ.get("MEMMARK_REQUIRE_SERVERS", "") not in ("", "0")

_answered: dict[str, str | None] = {}


def _probe(url: str) -> str | None:
    """Return why the server of ``url`` is unusable, or ``None`` if it accepts TCP."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port
    if port is None:
        return f"no port in {url!r}"
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"{host}:{port} does not answer ({exc})"


def require_server(name: str, url: str) -> str:
    """Return ``url`` if its server answers; otherwise skip, or fail under CI.

    Args:
        name: The server's name, for the message.
        url: Its URL (SQLAlchemy or redis form).
    """
    if url not in _answered:
        _answered[url] = _probe(url)
    reason = _answered[url]
    if reason is None:
        return url
    message = f"{name} server not available: {reason}"
    if REQUIRE_SERVERS:
        pytest.fail(f"{message} (MEMMARK_REQUIRE_SERVERS is set)", pytrace=False)
    pytest.skip(message)
