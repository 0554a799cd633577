"""Open an SQL memory from a URL, on one shared engine per URL per process."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from memmark.core import MissingDependencyError
from memmark.core.urls import SharedResources, mask_password

DEFAULT_CONNECT_TIMEOUT = 5.0
"""Seconds a new connection may take, handshake included, before it fails."""

# Plain schemes name the async driver memmark runs on.
_ALIASES = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
    "mariadb+asyncmy": "mysql+asyncmy",
}
_DRIVERS = {
    "sqlite+aiosqlite": ("aiosqlite", "memmark-sql[sqlite]"),
    "postgresql+asyncpg": ("asyncpg", "memmark-sql[postgres]"),
    "mysql+asyncmy": ("asyncmy", "memmark-sql[mysql]"),
}

_engines: SharedResources[AsyncEngine] = SharedResources(lambda engine: engine.dispose())


def driver_url(url: str) -> str:
    """Return ``url`` with its scheme spelled as the async driver memmark uses.

    Raises:
        MissingDependencyError: The driver is not installed.
        ValueError: No driver memmark supports serves the scheme.
    """
    scheme, _, rest = url.partition("://")
    name = _ALIASES.get(scheme.lower(), scheme.lower())
    driver = _DRIVERS.get(name)
    if driver is None:
        known = ", ".join(sorted(_DRIVERS))
        raise ValueError(f"url: memmark-sql serves {known}, not {mask_password(url)!r}")
    module, install = driver
    try:
        importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(module, install) from None
    return f"{name}://{rest}"


def shared_engine(
    url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, **engine_options: Any
) -> AsyncEngine:
    """Return the process's engine for ``url``, making it on first use.

    Every memory opened from the same URL and options shares this engine and
    its pool. New connections fail after ``connect_timeout`` seconds, also
    when the server accepts the connection and then never answers.

    Args:
        url: An SQLAlchemy URL (plain ``postgresql://`` etc. pick memmark's driver).
        connect_timeout: Seconds a new connection may take.
        **engine_options: Passed to :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """
    full = driver_url(url)
    key = repr((full, connect_timeout, sorted(engine_options.items())))
    return _engines.get(key, lambda: _make_engine(full, connect_timeout, engine_options))


def _make_engine(url: str, timeout: float, options: dict[str, Any]) -> AsyncEngine:
    connect_args = dict(options.pop("connect_args", {}))
    if not url.startswith("sqlite") and "async_creator_fn" not in connect_args:
        driver = importlib.import_module("asyncpg" if url.startswith("postgresql") else "asyncmy")
        connect_args["async_creator_fn"] = _bounded_connect(driver.connect, url, timeout)
    return create_async_engine(url, connect_args=connect_args, **options)


def _bounded_connect(
    connect: Callable[..., Awaitable[Any]], url: str, timeout: float
) -> Callable[..., Awaitable[Any]]:
    """Wrap a driver's ``connect`` so a silent server fails in time, naming the URL.

    asyncmy's own ``connect_timeout`` bounds the TCP connect only, not the
    handshake, so a server that accepts and never answers hangs it forever;
    asyncpg's timeout fails with an empty message.
    """
    where = mask_password(url)

    async def bounded(*args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.wait_for(connect(*args, **kwargs), timeout)
        except (asyncio.TimeoutError, TimeoutError) as exc:  # distinct on 3.10
            raise TimeoutError(f"{where}: no answer within {timeout:g} s") from exc
        except OSError as exc:
            raise ConnectionError(f"{where}: cannot connect ({exc})") from exc

    return bounded


def open_memory(
    url: str,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    table_prefix: str | None = None,
    message_cache: bool = True,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    **engine_options: Any,
) -> Any:
    """Open the memory of one pair in the database ``url`` names, on the shared engine.

    The entry point behind ``memmark.core.connect`` for SQL URLs.

    Args:
        url: An SQLAlchemy URL.
        user_id: The user; ``None`` means ``"default_user"``.
        session_id: The session; ``None`` means ``"default_session"``.
        table_prefix: Put before the table names; ``None`` for the default.
        message_cache: Keep decoded sessions in the process-wide cache
            (see :class:`~memmark.sql.AsyncSQLAlchemyMemory`).
        connect_timeout: Seconds a new connection may take.
        **engine_options: Passed to ``create_async_engine`` the first time.

    Returns:
        An :class:`~memmark.sql.AsyncSQLAlchemyMemory`.
    """
    from memmark.sql import DEFAULT_PREFIX, AsyncSQLAlchemyMemory

    engine = shared_engine(url, connect_timeout=connect_timeout, **engine_options)
    return AsyncSQLAlchemyMemory(
        engine,
        session_id=session_id,
        user_id=user_id,
        table_prefix=DEFAULT_PREFIX if table_prefix is None else table_prefix,
        message_cache=message_cache,
    )
