"""Open an SQL memory from a URL, on one shared engine per URL per process."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from memmark.core import MissingDependencyError
from memmark.core.urls import SharedResources, mask_password, url_scheme
from memmark.sql._schema import DEFAULT_PREFIX

if TYPE_CHECKING:
    from memmark.sql._memory import AsyncSQLAlchemyMemory

_M = TypeVar("_M", bound="AsyncSQLAlchemyMemory")

DEFAULT_CONNECT_TIMEOUT = 3.0
"""Seconds a new connection may take, handshake included, before it fails.

Shorter than the command timeout: a call whose connection is lost mid-statement
connects once more, so a server gone silent fails a call within their sum.
"""

DEFAULT_COMMAND_TIMEOUT = 5.0
"""Seconds a statement may wait for the server's reply before its call fails."""

# Each driver's name for the time a statement may wait for its reply.
_COMMAND_TIMEOUT_ARG = {"asyncpg": "command_timeout", "asyncmy": "read_timeout"}

# Planner settings of the PostgreSQL connections memmark makes (sent in the
# startup packet, so no round trip). asyncpg prepares each statement once per
# connection, and after five runs PostgreSQL may keep a generic plan for good:
# one made while the tables were small (a new deployment, a new tenant, no
# autovacuum since) scans them whole, per row in a subquery, long after they
# grew. force_custom_plan plans every run with the tables as they are. JIT
# compiles any plan whose estimated cost passes jit_above_cost, which stale
# statistics reach on small reads; compiling costs 15-45 ms, more than the
# reads it would speed up. A caller's own server_settings win.
PG_SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan", "jit": "off"}

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
    scheme = url_scheme(url)
    rest = url.partition("://")[2]
    name = _ALIASES.get(scheme, scheme)
    driver = _DRIVERS.get(name)
    if driver is None:
        known = ", ".join(sorted(_DRIVERS))
        raise ValueError(
            f"url: memmark-sql serves {known}, not {scheme!r}:// ({mask_password(url)!r})"
        )
    module, install = driver
    try:
        importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(module, install) from None
    return f"{name}://{rest}"


def shared_engine(
    url: str,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    command_timeout: float | None = DEFAULT_COMMAND_TIMEOUT,
    **engine_options: Any,
) -> AsyncEngine:
    """Return the process's engine for ``url``, making it on first use.

    Every memory opened from the same URL and options shares this engine and
    its pool. New connections fail after ``connect_timeout`` seconds, also
    when the server accepts the connection and then never answers; a
    statement fails when the server has not answered it within
    ``command_timeout`` seconds (the connection is then dropped). Errors of
    the engine's calls carry a note naming the URL, its password masked.

    Args:
        url: An SQLAlchemy URL (plain ``postgresql://`` etc. pick memmark's driver).
        connect_timeout: Seconds a new connection may take.
        command_timeout: Seconds a statement may wait for its reply; ``None``
            for no bound (SQLite has none: it runs in process).
        **engine_options: Passed to :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """
    full = driver_url(url)
    key = repr((full, connect_timeout, command_timeout, sorted(engine_options.items())))
    return _engines.get(
        key, lambda: _make_engine(full, connect_timeout, command_timeout, engine_options)
    )


def _make_engine(
    url: str, timeout: float, command_timeout: float | None, options: dict[str, Any]
) -> AsyncEngine:
    connect_args = dict(options.pop("connect_args", {}))
    if not url.startswith("sqlite") and "async_creator_fn" not in connect_args:
        name = "asyncpg" if url.startswith("postgresql") else "asyncmy"
        if command_timeout is not None:
            connect_args.setdefault(_COMMAND_TIMEOUT_ARG[name], command_timeout)
        if name == "asyncpg":
            connect_args["server_settings"] = {
                **PG_SERVER_SETTINGS,
                **connect_args.get("server_settings", {}),
            }
        driver = importlib.import_module(name)
        connect_args["async_creator_fn"] = _bounded_connect(driver.connect, url, timeout)
    engine = create_async_engine(url, connect_args=connect_args, **options)
    event.listen(engine.sync_engine, "handle_error", _name_the_server(mask_password(url)))
    return engine


def note_server(error: BaseException, where: str) -> None:
    """Add a note naming the server (``where``, its password masked) to ``error``.

    The error keeps its type, so the retries that look at it (a lost
    connection, a deadlock) behave as before; the note shows in the traceback
    (Python 3.11 and later) and in ``error.__notes__``.
    """
    text = f"while talking to {where}"
    notes = getattr(error, "__notes__", None)
    if notes is None:
        error.__notes__ = notes = []  # type: ignore[attr-defined]  # add_note() is 3.11+
    if text not in notes:
        notes.append(text)


def _name_the_server(where: str) -> Callable[[ExceptionContext], None]:
    """An engine's ``handle_error`` hook: :func:`note_server` on each error."""

    def note(context: ExceptionContext) -> None:
        note_server(context.sqlalchemy_exception or context.original_exception, where)

    return note


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
    command_timeout: float | None = DEFAULT_COMMAND_TIMEOUT,
    memory_class: type[_M],
    **engine_options: Any,
) -> _M:
    """Open the memory of one pair in the database ``url`` names, on the shared engine.

    What ``AsyncSQLAlchemyMemory.from_url`` runs, and so ``memmark.core.connect`` for
    SQL URLs (whose entry point ``from_url`` is).

    Args:
        url: An SQLAlchemy URL.
        user_id: The user; ``None`` means ``"default_user"``.
        session_id: The session; ``None`` means ``"default_session"``.
        table_prefix: Put before the table names; ``None`` for the default.
        message_cache: Keep decoded sessions in the process-wide cache
            (see :class:`~memmark.sql.AsyncSQLAlchemyMemory`).
        connect_timeout: Seconds a new connection may take.
        command_timeout: Seconds a statement may wait for its reply; ``None``
            for no bound.
        memory_class: The class to make: ``AsyncSQLAlchemyMemory`` or a
            subclass, whose ``from_url`` calls this.
        **engine_options: Passed to ``create_async_engine`` the first time.

    Returns:
        An :class:`~memmark.sql.AsyncSQLAlchemyMemory` (of ``memory_class``).
    """
    engine = shared_engine(
        url, connect_timeout=connect_timeout, command_timeout=command_timeout, **engine_options
    )
    return memory_class(
        engine,
        session_id=session_id,
        user_id=user_id,
        table_prefix=DEFAULT_PREFIX if table_prefix is None else table_prefix,
        message_cache=message_cache,
    )
