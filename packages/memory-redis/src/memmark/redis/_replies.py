"""What the scripts return, taken apart: one ``NamedTuple`` per script whose reply has parts.

The methods of :class:`~memmark.redis._protocol.SessionScripts` build them;
each field follows the ``Returns`` line of its script's header.
"""

from __future__ import annotations

from typing import NamedTuple


class GetReply(NamedTuple):
    """What one run of ``get`` returns."""

    summary: bytes | None
    """The summary, when asked for and set."""
    cursor: bytes | None
    """Where to run on from for the rest of the read; ``None``: the read is whole."""
    payloads: list[bytes]
    """The messages' payloads, oldest first."""


class ExportReply(NamedTuple):
    """What one run of ``export_state`` returns."""

    summary: bytes | None
    """The summary, when set."""
    state: bytes | None
    """The state slot's JSON text, when set."""
    cursor: bytes | None
    """Where to run on from for the rest; ``None``: nothing more."""
    payloads: list[bytes]
    """The messages' payloads, in order."""
    mark_blobs: list[bytes | None]
    """Each message's marks blob; ``None`` for a message without marks."""


class ReadReply(NamedTuple):
    """What one run of ``read`` returns."""

    version: int | None
    """The session's version; ``None`` for a session without one."""
    summary: bytes | None
    """The summary, when set."""
    state: int
    """0: the held version is current; 1: the whole session follows; 2: nothing follows."""
    payloads: list[bytes]
    """With state 1, every message's payload, oldest first."""
    marks: list[bytes]
    """With state 1, the marks hash as ``HGETALL`` gives it: id, blob, id, blob..."""


class DeleteByMarkReply(NamedTuple):
    """What one run of ``delete_by_mark`` returns."""

    version: int
    """The session's version after the run."""
    removed: int
    """How many messages the run removed."""
    more: bool
    """Whether messages carrying a mark may remain: run again."""


class UpdateMarksReply(NamedTuple):
    """What one run of ``update_marks`` returns."""

    version: int | None
    """The session's version after the run (``None``: a session without one)."""
    changed: int
    """How many messages' mark sets the run changed."""
    cursor: bytes | None
    """Where to run on from; ``None``: done."""


class SessionInfoReply(NamedTuple):
    """What one run of ``session_info`` returns."""

    version: int
    """The session's version; 0 for none."""
    updated: int
    """The server's time of its last write, in microseconds; 0 for none."""
    size: int
    """How many messages it holds."""


class ApplyReply(NamedTuple):
    """What one run of ``apply`` returns."""

    status: int
    """0: applied; 1: the batch id was applied before; 2: the session is not
    at the expected version; 3: a refusing add met stored ids. Nothing is
    written unless 0."""
    version: int
    """The session's version after the run (0 for none)."""
    results: list[int | bytes | None]
    """With status 0, one per operation: a count, or a popped payload
    (``None`` when the session was empty)."""
    taken: list[bytes]
    """With status 3, the stored ids of the first refusing add, in its order."""


class PageReply(NamedTuple):
    """What one run of ``get_page`` returns."""

    found: bool
    """Whether the cursor message is stored (nothing else is read when not)."""
    version: int
    """The session's version, read with the page (0 for none)."""
    has_more: bool
    """Whether the selection holds more beyond the page in the walk's direction."""
    payloads: list[bytes]
    """The page's payloads, oldest first."""
