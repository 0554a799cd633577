"""Open a memory from a URL; the URL's scheme picks the backend.

Each backend package registers the schemes it serves as entry points of the
group ``memmark.backends`` (name: the scheme, value: a callable taking the URL
and keyword options and returning a memory), so a backend installed alone is
found without the core knowing it. ``memory://`` is served here, in process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

from memmark.core.base import MemoryBase, StateContent
from memmark.core.checks import session_ids
from memmark.core.errors import MissingDependencyError
from memmark.core.in_memory import InMemoryMemory
from memmark.core.msg import Msg

ENTRY_POINT_GROUP = "memmark.backends"
"""The entry-point group in which backends register the URL schemes they open."""

Opener = Callable[..., MemoryBase]
"""``opener(url, *, user_id, session_id, **options) -> MemoryBase``."""

# Where each scheme memmark knows comes from, to name the install line when
# its backend (or the backend's driver) is not installed.
_INSTALL_LINES: dict[str, str] = {
    "sqlite": "memmark-sql[sqlite]",
    "sqlite+aiosqlite": "memmark-sql[sqlite]",
    "postgresql": "memmark-sql[postgres]",
    "postgresql+asyncpg": "memmark-sql[postgres]",
    "mysql": "memmark-sql[mysql]",
    "mysql+asyncmy": "memmark-sql[mysql]",
    "mariadb": "memmark-sql[mysql]",
    "mariadb+asyncmy": "memmark-sql[mysql]",
    "redis": "memmark-redis",
    "rediss": "memmark-redis",
    "redis+cluster": "memmark-redis",
    "rediss+cluster": "memmark-redis",
}

_in_process: dict[tuple[str, str, str], InMemoryMemory] = {}


def mask_password(url: str) -> str:
    """Return ``url`` with its password, if any, replaced by ``***``.

    Args:
        url: Any URL.
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def url_scheme(url: object) -> str:
    """Return the lower-cased scheme of a memory URL.

    Raises:
        TypeError: ``url`` is not a str.
        ValueError: ``url`` has no ``scheme://``.
    """
    if not isinstance(url, str):
        raise TypeError(f"url: expected a str, got {type(url).__name__}")
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise ValueError(f"url: expected 'scheme://...', got {mask_password(url)!r}")
    return scheme.lower()


_T = TypeVar("_T")


class SharedResources(Generic[_T]):
    """The engines or clients a backend shares per URL in this process.

    A backend's opener keeps one of these, so every memory opened from the
    same URL and options gets the same pool; :func:`close_shared` closes
    every backend's at once (at shutdown, or between tests on different
    event loops).

    Args:
        close: How to close one resource (``engine.dispose``, ``client.aclose``).
    """

    def __init__(self, close: Callable[[_T], Awaitable[object]]) -> None:
        self._close = close
        self._made: dict[str, _T] = {}
        _every_shared.append(self)

    def get(self, key: str, make: Callable[[], _T]) -> _T:
        """Return the resource for ``key``, made by ``make()`` on first use."""
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = make()
        return made

    async def close_all(self) -> None:
        """Close every resource made, and forget them."""
        made = list(self._made.values())
        self._made.clear()
        for resource in made:
            await self._close(resource)


_every_shared: list[SharedResources[Any]] = []


async def close_shared() -> None:
    """Close the engines and clients that memories opened by URL share in this process."""
    for shared in _every_shared:
        await shared.close_all()


def openers() -> dict[str, Opener]:
    """Return the installed backends' openers by scheme (``memory`` included)."""
    found: dict[str, Opener] = {"memory": open_in_process}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(point.name.lower(), point.load())
    return found


def connect(
    url: str,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    **options: Any,
) -> MemoryBase:
    """Open the memory of one ``(user_id, session_id)`` in the store ``url`` names.

    The backend is picked by the scheme: ``memory://`` (in process),
    ``sqlite+aiosqlite:///path``, ``postgresql+asyncpg://…``,
    ``mysql+asyncmy://…`` (MariaDB), ``redis://`` / ``rediss://``, and
    ``redis+cluster://`` / ``rediss+cluster://`` for a Redis Cluster. Every
    memory opened from the same URL in a process shares one engine or
    connection pool, so opening one per request costs no new connections.

    Args:
        url: Where the store is.
        user_id: The user; ``None`` means ``"default_user"``.
        session_id: The session; ``None`` means ``"default_session"``.
        **options: Passed to the backend's opener (see each backend's
            ``from_url``), e.g. ``table_prefix``, ``key_prefix``,
            ``key_ttl``, ``connect_timeout``.

    Raises:
        MissingDependencyError: The backend or its driver is not installed;
            the message names the ``pip install`` line.
        ValueError: ``url`` is malformed or names a scheme no backend serves.
    """
    scheme = url_scheme(url)
    opener = openers().get(scheme)
    if opener is None:
        install = _INSTALL_LINES.get(scheme)
        if install is not None:
            raise MissingDependencyError(install.partition("[")[0], install)
        known = ", ".join(sorted({"memory", *_INSTALL_LINES}))
        raise ValueError(f"url: no memmark backend serves {scheme!r}:// (known: {known})")
    return opener(url, user_id=user_id, session_id=session_id, **options)


def open_in_process(
    url: str, *, user_id: str | None = None, session_id: str | None = None
) -> MemoryBase:
    """Open a handle on the in-process store ``memory://[name]`` keeps for the pair.

    Handles opened with the same URL, user and session in one process share
    one :class:`InMemoryMemory`, so a memory opened per request sees what the
    one before it stored; closing a handle leaves the store as it is. The
    store lives as long as the process.

    Args:
        url: ``memory://`` or ``memory://name`` (names keep stores apart).
        user_id: The user; ``None`` means ``"default_user"``.
        session_id: The session; ``None`` means ``"default_session"``.
    """
    user, session = session_ids(user_id, session_id)
    key = (url.partition("://")[2], user, session)
    store = _in_process.get(key)
    if store is None:
        store = _in_process[key] = InMemoryMemory()
    return InProcessHandle(store)


class InProcessHandle(MemoryBase):
    """One handle on a shared in-process store: its own lifetime, the store's data.

    What ``memory://`` opens: closing a handle ends that handle only, as
    closing a SQL or Redis memory leaves the database as it is.

    Args:
        store: The in-process memory whose messages the handle reads and writes.
    """

    def __init__(self, store: InMemoryMemory) -> None:
        self._store = store

    async def _add(self, msgs: list[Msg], marks: list[str], skip_duplicated: bool) -> None:
        await self._store._add(msgs, marks, skip_duplicated)

    async def _delete(self, ids: list[str]) -> int:
        return await self._store._delete(ids)

    async def _delete_by_mark(self, marks: list[str]) -> int:
        return await self._store._delete_by_mark(marks)

    async def _clear(self) -> None:
        await self._store._clear()

    async def _update_messages_mark(
        self, new_mark: str | None, old_mark: str | None, msg_ids: list[str] | None
    ) -> int:
        return await self._store._update_messages_mark(new_mark, old_mark, msg_ids)

    async def _update_compressed_summary(self, summary: str) -> None:
        self._store._compressed_summary = summary

    async def _size(self) -> int:
        return await self._store._size()

    async def _get_memory(
        self, mark: str | None, exclude_mark: str | None, limit: int | None, with_summary: bool
    ) -> tuple[list[Msg], str | None]:
        return await self._store._get_memory(mark, exclude_mark, limit, with_summary)

    async def _export_state(self) -> tuple[StateContent, str]:
        return await self._store._export_state()

    async def _import_state(self, content: list[tuple[Msg, list[str]]], summary: str) -> None:
        await self._store._import_state(content, summary)
        self._store._compressed_summary = summary

    def _summary_msg(self, summary: str) -> Msg:
        return self._store._summary_msg(summary)

    def state_dict(self) -> dict[str, Any]:
        """Return the shared store's state (see :meth:`InMemoryMemory.state_dict`)."""
        return self._store.state_dict()

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Load a state into the shared store (see :meth:`InMemoryMemory.load_state_dict`)."""
        self._store.load_state_dict(state, strict)
