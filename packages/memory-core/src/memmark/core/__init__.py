"""memmark core: the message, the memory contract and the in-process memory.

A backend subclasses :class:`MemoryBase` (or, for a shared store,
:class:`StoreBackedMemory`) and implements its hooks; it imports only the
names exported here and the public modules ``memmark.core.checks``,
``memmark.core.batch`` (the operations ``_apply`` receives) and
``memmark.core.testing``.
"""

from memmark.core import checks, telemetry
from memmark.core.base import DEFAULT_MAX_MESSAGE_BYTES, MemoryBase, StateContent, build_state
from memmark.core.batch import Batch, BatchResult
from memmark.core.closing import AsyncClosing
from memmark.core.errors import (
    DuplicateMessageError,
    InvalidStateError,
    MemmarkError,
    MemoryClosedError,
    MessageNotFoundError,
    MessageTooLargeError,
    MissingDependencyError,
    VersionConflictError,
)
from memmark.core.in_memory import InMemoryMemory
from memmark.core.msg import Msg
from memmark.core.pages import MessagePage, PageQuery
from memmark.core.sessions import SessionInfo, SessionPage
from memmark.core.stored import StoreBackedMemory
from memmark.core.urls import connect

telemetry.enable_from_environment()

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "AsyncClosing",
    "Batch",
    "BatchResult",
    "DuplicateMessageError",
    "InMemoryMemory",
    "InvalidStateError",
    "MemmarkError",
    "MemoryBase",
    "MemoryClosedError",
    "MessageNotFoundError",
    "MessagePage",
    "MessageTooLargeError",
    "MissingDependencyError",
    "Msg",
    "PageQuery",
    "SessionInfo",
    "SessionPage",
    "StateContent",
    "StoreBackedMemory",
    "VersionConflictError",
    "build_state",
    "checks",
    "connect",
    "telemetry",
]
