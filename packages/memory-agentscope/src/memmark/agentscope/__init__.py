"""AgentScope 1.x agents on memmark: drop-in memories over memmark's backends.

Change the import and keep the code::

    from memmark.agentscope import InMemoryMemory, AsyncSQLAlchemyMemory, RedisMemory

Each class takes the arguments of ``agentscope.memory``'s class of the same
name and is an ``agentscope.memory.MemoryBase``, so ``ReActAgent(memory=...)``
and AgentScope's sessions use it as they use their own. The SQL and Redis
classes load on first use, so that a missing driver is reported only to
code that needs it: install ``memmark-agentscope[sqlite]`` (``[postgres]``,
``[mysql]``) or ``memmark-agentscope[redis]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memmark.agentscope._adapter import MemmarkMemory
from memmark.agentscope._in_memory import InMemoryMemory

if TYPE_CHECKING:
    from memmark.agentscope._redis import RedisMemory
    from memmark.agentscope._sql import AsyncSQLAlchemyMemory

__all__ = ["AsyncSQLAlchemyMemory", "InMemoryMemory", "MemmarkMemory", "RedisMemory"]

# name -> (module, the distribution's extra that brings its backend)
_LAZY = {
    "AsyncSQLAlchemyMemory": ("memmark.agentscope._sql", "memmark-agentscope[sqlite]"),
    "RedisMemory": ("memmark.agentscope._redis", "memmark-agentscope[redis]"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, install = _LAZY[name]
    import importlib

    from memmark.core import MissingDependencyError

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.startswith("memmark.agentscope"):
            raise
        raise MissingDependencyError(exc.name or module_name, install) from exc
    value = getattr(module, name)
    globals()[name] = value
    return value
