"""memmark core: the message, the memory contract and the in-process memory."""

from memmark.core.base import DEFAULT_MAX_MESSAGE_BYTES, MemoryBase
from memmark.core.errors import (
    DuplicateMessageError,
    InvalidStateError,
    MemmarkError,
    MessageTooLargeError,
    MissingDependencyError,
)
from memmark.core.in_memory import InMemoryMemory
from memmark.core.msg import Msg
from memmark.core.stored import StoreBackedMemory

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DuplicateMessageError",
    "InMemoryMemory",
    "InvalidStateError",
    "MemmarkError",
    "MemoryBase",
    "MessageTooLargeError",
    "MissingDependencyError",
    "Msg",
    "StoreBackedMemory",
]
