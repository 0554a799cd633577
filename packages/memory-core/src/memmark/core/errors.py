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
