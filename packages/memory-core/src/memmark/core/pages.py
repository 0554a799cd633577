"""Reads by page: what :meth:`~memmark.core.MemoryBase.get_page` returns."""

from __future__ import annotations

from dataclasses import dataclass

from memmark.core.msg import Msg


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
