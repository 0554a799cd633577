"""What a store knows about its sessions: versions, last writes, listing pages."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

SessionKey = tuple[float, str, str]
"""Where a listing stands: ``(updated_at, user_id, session_id)`` of the last session seen."""


@dataclass(frozen=True)
class SessionInfo:
    """One session of a store, as :meth:`~memmark.core.MemoryBase.list_sessions` lists it.

    Attributes:
        user_id: The session's user.
        session_id: The session.
        size: How many messages it holds.
        version: Its version (see :meth:`~memmark.core.MemoryBase.version`).
        updated_at: When it was last written, in seconds since the epoch
            (by the store's clock where it has one).
    """

    user_id: str
    session_id: str
    size: int
    version: int
    updated_at: float

    @property
    def key(self) -> SessionKey:
        """The session's place in a listing: newest write first, then by ids."""
        return (self.updated_at, self.user_id, self.session_id)


@dataclass(frozen=True)
class SessionPage:
    """One page of a session listing.

    Attributes:
        sessions: The sessions, most recently written first (ties by user id,
            then session id).
        next_cursor: Pass it as ``cursor=`` for the next page; ``None`` when
            this page is the last.
    """

    sessions: list[SessionInfo]
    next_cursor: str | None


def listing_order(info: SessionInfo) -> tuple[float, str, str]:
    """Sort key of the listing order: newest ``updated_at`` first, then ids ascending."""
    return (-info.updated_at, info.user_id, info.session_id)


def after(key: SessionKey, info: SessionInfo) -> bool:
    """Whether ``info`` comes after the session at ``key`` in the listing order."""
    updated_at, user_id, session_id = key
    return listing_order(info) > (-updated_at, user_id, session_id)


def follows(key: SessionKey | None, info: SessionInfo) -> bool:
    """Whether ``info`` belongs on a listing resumed after ``key`` (``None``: from the start)."""
    return key is None or after(key, info)


def select(
    sessions: Iterable[SessionInfo], limit: int, key: SessionKey | None
) -> list[SessionInfo]:
    """Return the first ``limit`` of ``sessions`` after ``key``, in the listing order.

    What a store that gathers its sessions first (and sorts them itself)
    returns from ``_list_sessions``.

    Args:
        sessions: The store's sessions, in any order, already narrowed to a
            user when the listing is.
        limit: The most to return.
        key: Where the listing resumes; ``None`` from the start.
    """
    return sorted((s for s in sessions if follows(key, s)), key=listing_order)[:limit]


def encode_cursor(key: SessionKey) -> str:
    """Return the opaque cursor that resumes a listing after ``key``."""
    raw = json.dumps(list(key), ensure_ascii=False).encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_cursor(cursor: str) -> SessionKey:
    """Return the key a cursor of :func:`encode_cursor` stands for.

    Raises:
        ValueError: ``cursor`` was not made by :func:`encode_cursor`.
    """
    try:
        updated_at, user_id, session_id = json.loads(
            base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8", "surrogatepass")
        )
        if not (
            isinstance(updated_at, (int, float))
            and not isinstance(updated_at, bool)
            # An int past any float (a cursor made by hand) overflows here.
            and math.isfinite(updated_at)
            and isinstance(user_id, str)
            and isinstance(session_id, str)
        ):
            raise ValueError("not a listing key")
    except (ValueError, TypeError, UnicodeError, OverflowError) as exc:
        raise ValueError(f"cursor: not a session listing cursor: {cursor!r:.80}") from exc
    return (float(updated_at), user_id, session_id)
