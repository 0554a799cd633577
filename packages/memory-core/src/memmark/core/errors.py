"""Errors raised by memmark memories."""

from __future__ import annotations

from collections.abc import Sequence


class MemmarkError(Exception):
    """Base class of every error memmark raises on its own account."""


class DuplicateMessageError(MemmarkError, ValueError):
    """An ``add`` with ``skip_duplicated=False`` met ids already stored.

    Nothing of the call was written.

    Attributes:
        ids: The offending message ids, in the order they were met.
    """

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:5])
        more = f" and {len(self.ids) - 5} more" if len(self.ids) > 5 else ""
        super().__init__(f"memories: message id already in the session: {shown}{more}")


class InvalidStateError(MemmarkError, ValueError):
    """A state given to ``load_state_dict`` or ``import_state`` is malformed."""


class MessageTooLargeError(MemmarkError, ValueError):
    """A message is larger than the memory's maximum size, or nests too deep.

    Nothing of the call was written.
    """


class MemoryClosedError(MemmarkError, RuntimeError):
    """A call was made on a memory after its ``close()``."""


class MissingDependencyError(MemmarkError, ImportError):
    """An optional driver needed by a backend is not installed."""

    def __init__(self, module: str, install: str) -> None:
        super().__init__(f"{module!r} is not installed; install it with: pip install '{install}'")
        self.install = install


class VersionConflictError(MemmarkError):
    """A write carried ``expect_version`` and the session had moved on.

    Another writer got there first; nothing of the call (or batch) was
    written. Read the session again, then decide.

    Attributes:
        expected: The version the write expected.
        actual: The session's version when the write reached the store.
    """

    def __init__(self, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"expect_version: the session is at version {actual}, not {expected}; "
            "another writer wrote first and nothing was written"
        )


class MessageNotFoundError(MemmarkError, LookupError):
    """A page cursor (``before=`` / ``after=``) names a message the session does not hold.

    Attributes:
        msg_id: The id that was not found.
    """

    def __init__(self, arg: str, msg_id: str) -> None:
        self.msg_id = msg_id
        super().__init__(f"{arg}: no message {msg_id!r} in the session")
