"""Open a memory from a URL; the URL's scheme picks the backend.

Each backend package registers the schemes it serves as entry points of the
group ``memmark.backends`` (name: the scheme, value: a callable taking the URL
and keyword options and returning a memory), so a backend installed alone is
found without the core knowing it. ``memory://`` is served here, in process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from typing import Any, ClassVar, Generic, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from memmark.core.base import MemoryBase, StateContent
from memmark.core.batch import BatchResult, Operation
from memmark.core.checks import session_ids
from memmark.core.errors import MissingDependencyError
from memmark.core.in_memory import InMemoryMemory
from memmark.core.msg import Msg
from memmark.core.pages import MessagePage, PageQuery
from memmark.core.sessions import SessionInfo, SessionKey, select

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


# The openers found so far. Reading the entry points walks every installed
# distribution's metadata (tens of ms in a large environment), too much for a
# server that connects per request; a scheme not found yet is looked up again,
# so a backend installed while the process runs is still found.
_found: dict[str, Opener] = {}


def _opener_for(scheme: str) -> Opener | None:
    opener = _found.get(scheme)
    if opener is None:
        _found.update(openers())
        opener = _found.get(scheme)
    return opener


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
    opener = _opener_for(scheme)
    if opener is None:
        install = _INSTALL_LINES.get(scheme)
        if install is not None:
            raise MissingDependencyError(install.partition("[")[0], install)
        known = ", ".join(sorted({"memory", *_INSTALL_LINES}))
        raise ValueError(f"url: no memmark backend serves {scheme!r}:// (known: {known})")
    return opener(url, user_id=user_id, session_id=session_id, **options)


_U = TypeVar("_U", bound="OpenedByUrl")


class OpenedByUrl:
    """Gives a backend's memory class ``from_url``, made by the backend's opener.

    The backend names its opener where it subclasses, e.g.
    ``class RedisMemory(StoreBackedMemory, OpenedByUrl, opener=open_memory)``;
    its subclasses inherit it. The opener takes the URL, ``user_id``,
    ``session_id``, ``memory_class`` (the class to make) and the backend's
    options, and makes the memory on the engine or client it shares per URL
    per process. The same method is the backend's entry point for
    :func:`connect`.
    """

    _url_opener: ClassVar[Callable[..., Any] | None] = None

    def __init_subclass__(cls, opener: Callable[..., Any] | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if opener is not None:
            cls._url_opener = opener

    @classmethod
    def from_url(
        cls: type[_U],
        url: str,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        **options: Any,
    ) -> _U:
        """Open the memory of one pair in the store ``url`` names, as this class.

        Every memory opened from the same URL and options in a process shares
        one engine or client and its pool (the one :func:`connect` uses), so
        opening one per request costs no new connection; closing the memory
        leaves it open (:func:`close_shared` closes it). Which URLs and
        options a backend takes: its class's docstring.

        Args:
            url: Where the store is, in a scheme the backend serves.
            user_id: The user; ``None`` means ``"default_user"``.
            session_id: The session; ``None`` means ``"default_session"``.
            **options: The backend's options (its class's docstring).

        Raises:
            ValueError: ``url`` names no store the backend serves.
            MissingDependencyError: The URL's driver is not installed.
        """
        opener = cls._url_opener
        if opener is None:
            raise TypeError(f"{cls.__name__} names no opener for from_url")
        memory = opener(url, user_id=user_id, session_id=session_id, memory_class=cls, **options)
        return cast(_U, memory)


def open_in_process(
    url: str, *, user_id: str | None = None, session_id: str | None = None
) -> MemoryBase:
    """Open a handle on the in-process store ``memory://[name]`` keeps for the pair.

    Handles opened with the same URL, user and session in one process share
    one :class:`InMemoryMemory`, so a memory opened per request sees what the
    one before it stored; closing a handle leaves the store as it is. The
    stores live as long as the process, or until ``delete_session`` drops one.
    ``list_sessions`` lists the stores of the same name.

    Args:
        url: ``memory://`` or ``memory://name`` (names keep stores apart).
        user_id: The user; ``None`` means ``"default_user"``.
        session_id: The session; ``None`` means ``"default_session"``.
    """
    name = url.partition("://")[2]
    stores = _in_process.get(name)
    if stores is None:
        stores = _in_process[name] = InProcessStores()
    return stores.open(user_id, session_id)


class InProcessStores:
    """The in-process stores of one ``memory://`` name: one per ``(user_id, session_id)``.

    A store is made by the first write to its pair and dropped by
    ``delete_session``; reads of a pair without a store see an empty
    session and make none.

    Args:
        make: Makes a new store (``InMemoryMemory`` or a subclass of it).
    """

    def __init__(self, make: Callable[[], InMemoryMemory] = InMemoryMemory) -> None:
        self._make = make
        self._stores: dict[tuple[str, str], InMemoryMemory] = {}
        self._takes_copies: bool | None = None

    def open(self, user_id: str | None = None, session_id: str | None = None) -> InProcessHandle:
        """Return a new handle on the pair's store.

        Args:
            user_id: The user; ``None`` means ``"default_user"``.
            session_id: The session; ``None`` means ``"default_session"``.
        """
        user, session = session_ids(user_id, session_id)
        return InProcessHandle(self, user, session)

    def takes_copies(self) -> bool:
        """Whether the stores keep the checks' copies of messages (see ``InMemoryMemory``)."""
        if self._takes_copies is None:
            # Asked of a store made for the purpose and dropped, so that a
            # write the checks refuse makes no store for its pair.
            self._takes_copies = self._make()._takes_copies
        return self._takes_copies

    def get(self, pair: tuple[str, str]) -> InMemoryMemory | None:
        """Return the pair's store, ``None`` when it has none."""
        return self._stores.get(pair)

    def get_or_make(self, pair: tuple[str, str]) -> InMemoryMemory:
        """Return the pair's store, made now if it has none (for a write)."""
        store = self._stores.get(pair)
        if store is None:
            store = self._stores[pair] = self._make()
            store.listed_as = pair
        return store

    def drop(self, pair: tuple[str, str]) -> bool:
        """Remove the pair's store; return whether it had one that was written."""
        store = self._stores.pop(pair, None)
        # A handle of the memory's own, still holding it, sees a deleted session.
        return store is not None and store.forget()

    def sessions(self, user_id: str | None) -> list[SessionInfo]:
        """Return every written store's listing entry, of ``user_id`` only unless ``None``."""
        found = []
        for (user, session), store in self._stores.items():
            if user_id is None or user == user_id:
                info = store.session_info(user, session)
                if info is not None:
                    found.append(info)
        return found


_in_process: dict[str, InProcessStores] = {}


class InProcessHandle(MemoryBase):
    """One handle on a shared in-process store: its own lifetime, the store's data.

    What ``memory://`` opens: closing a handle ends that handle only, as
    closing a SQL or Redis memory leaves the database as it is. The handle
    finds its pair's store at every call, so a session deleted through one
    handle and written through another is the same new session to all.

    Args:
        stores: The stores of the handle's ``memory://`` name.
        user_id: The handle's user.
        session_id: The handle's session.
    """

    def __init__(self, stores: InProcessStores, user_id: str, session_id: str) -> None:
        self._stores = stores
        self.user_id, self.session_id = user_id, session_id
        self._pair = (user_id, session_id)

    @property
    def _store(self) -> InMemoryMemory:
        """The pair's store, made if need be: what a write reaches."""
        return self._stores.get_or_make(self._pair)

    @property
    def _read_store(self) -> InMemoryMemory:
        """The pair's store, or an empty one standing for none (reads make no store)."""
        return self._stores.get(self._pair) or _EMPTY

    @property
    def _takes_copies(self) -> bool:
        # The store's hooks decide by the stores' answer, so the handle's checks must too.
        return self._stores.takes_copies()

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
        store = self._store
        await store._update_compressed_summary(summary)
        store._compressed_summary = summary

    async def _size(self) -> int:
        return await self._read_store._size()

    async def _get_memory(
        self, mark: str | None, exclude_mark: str | None, limit: int | None, with_summary: bool
    ) -> tuple[list[Msg], str | None]:
        return await self._read_store._get_memory(mark, exclude_mark, limit, with_summary)

    async def _export_state(self) -> tuple[StateContent, str, str | None]:
        return await self._read_store._export_state()

    async def _import_state(
        self, content: list[tuple[Msg, list[str]]], summary: str, session_state: str | None
    ) -> None:
        store = self._store
        await store._import_state(content, summary, session_state)
        store._compressed_summary = summary

    async def _apply(
        self, ops: list[Operation], expect_version: int | None, batch_id: str | None
    ) -> BatchResult:
        return await self._store._apply(ops, expect_version, batch_id)

    async def _get_page(self, query: PageQuery) -> MessagePage:
        return await self._read_store._get_page(query)

    async def _get_messages(self, ids: list[str]) -> list[Msg]:
        return await self._read_store._get_messages(ids)

    async def _get_session_state(self) -> str | None:
        return await self._read_store._get_session_state()

    async def _version(self) -> int:
        return await self._read_store._version()

    async def _list_sessions(
        self, all_users: bool, limit: int, after: SessionKey | None
    ) -> list[SessionInfo]:
        return select(self._stores.sessions(None if all_users else self.user_id), limit, after)

    async def _delete_session(self) -> bool:
        return self._stores.drop(self._pair)

    def _summary_msg(self, summary: str) -> Msg:
        return self._read_store._summary_msg(summary)

    def state_dict(self) -> dict[str, Any]:
        """Return the shared store's state (see :meth:`InMemoryMemory.state_dict`)."""
        return self._read_store.state_dict()

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Load a state into the shared store (see :meth:`InMemoryMemory.load_state_dict`)."""
        self._store.load_state_dict(state, strict)


_EMPTY = InMemoryMemory()
"""What a handle reads while its pair has no store; never written."""
