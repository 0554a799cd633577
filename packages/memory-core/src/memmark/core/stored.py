"""The base of memories whose messages live in a shared store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memmark.core import checks
from memmark.core.base import MemoryBase

if TYPE_CHECKING:  # cache.py imports the package this module is part of
    from memmark.core.cache import MessageCache


class StoreBackedMemory(MemoryBase):
    """A memory whose messages live in a store that other handles share.

    Everything the SQL and Redis memories have in common lives here or in
    :class:`~memmark.core.MemoryBase`: checking the session's ids, the sync
    state methods, and (in the base) the duplicate pre-check, the summary
    cache, building exports and parsing imports. A stored backend calls
    ``super().__init__(session_id, user_id)`` and implements the hooks.

    ``state_dict`` and ``load_state_dict`` are sync, so they cannot reach the
    store: they carry only the last summary this handle saw. Whole sessions
    move with the async ``export_state`` and ``import_state``.

    Args:
        session_id: The session; any string every store can hold, ``None``
            for ``"default_session"``.
        user_id: The user; likewise, ``None`` for ``"default_user"``.

    Raises:
        TypeError: An id is not a ``str``.
        ValueError: An id holds a lone surrogate.
    """

    _cache: MessageCache | None = None  # set by a backend that caches decoded sessions

    def __init__(self, session_id: str | None, user_id: str | None) -> None:
        self.user_id, self.session_id = checks.session_ids(user_id, session_id)
        self._compressed_summary = ""

    @property
    def message_cache(self) -> MessageCache | None:
        """The cache of decoded sessions this memory reads through, ``None`` without one.

        Messages read through a cache are shared with it, read after read:
        treat them as read-only (see the backend's ``message_cache``).
        """
        return self._cache

    def state_dict(self) -> dict[str, Any]:
        """Return ``{"_compressed_summary": <the last summary this handle saw>}``."""
        return {"_compressed_summary": self._compressed_summary}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Take the summary of a :meth:`state_dict` as the last one seen.

        A state that carries messages is refused: storing them needs I/O,
        which ``await memory.import_state(state)`` does.

        Raises:
            ValueError: The state is malformed or carries messages.
            TypeError: ``state`` is not a dict.
        """
        content, summary = checks.parse_state(state, strict=False)
        if content:
            raise ValueError(
                f"state: {type(self).__name__}.load_state_dict cannot store messages; "
                "use 'await memory.import_state(state)'"
            )
        self._compressed_summary = summary
