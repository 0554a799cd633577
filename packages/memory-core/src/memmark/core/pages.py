"""Reads by page: what :meth:`~memmark.core.MemoryBase.get_page` returns."""

from __future__ import annotations

from dataclasses import dataclass

from memmark.core.errors import MessageNotFoundError
from memmark.core.msg import Msg


@dataclass(frozen=True)
class PageQuery:
    """A checked ``get_page`` call, as a backend's ``_get_page`` hook gets it.

    Attributes:
        limit: The most messages on the page, at least 1.
        before: Only messages older than this stored message; the newest
            ``limit`` of them. Never set with ``after``.
        after: Only messages newer than this stored message; the oldest
            ``limit`` of them.
        mark: Only messages carrying it, when not ``None``.
        exclude_mark: Only messages not carrying it, when not ``None``.
    """

    limit: int
    before: str | None = None
    after: str | None = None
    mark: str | None = None
    exclude_mark: str | None = None

    @property
    def backwards(self) -> bool:
        """Whether the page is read from the newest end: no cursor, or ``before``."""
        return self.after is None

    @property
    def cursor(self) -> str | None:
        """The cursor's message id (``before`` or ``after``); ``None`` without one."""
        return self.before if self.after is None else self.after

    def cursor_not_found(self) -> MessageNotFoundError:
        """Return the error for a cursor whose message is not in the session."""
        return MessageNotFoundError("before" if self.after is None else "after", self.cursor or "")


@dataclass(frozen=True)
class MessagePage:
    """One page of a session's messages.

    Attributes:
        messages: The page, oldest first.
        has_more: Whether more messages of the same selection lie beyond
            the page in the direction of the walk: older ones for a page read
            backwards (no cursor, or ``before=``), newer ones for a page read
            forwards (``after=``).
        version: The session's version the page was read at.
    """

    messages: list[Msg]
    has_more: bool
    version: int
