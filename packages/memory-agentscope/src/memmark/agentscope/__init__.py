"""AgentScope agents on memmark: 1.x memories here, 2.x middleware in :mod:`memmark.agentscope.v2`.

For AgentScope 1.x, change the import and keep the code::

    from memmark.agentscope import InMemoryMemory, AsyncSQLAlchemyMemory, RedisMemory

Each class takes the arguments of ``agentscope.memory``'s class of the same
name and is an ``agentscope.memory.MemoryBase``, so ``ReActAgent(memory=...)``
and AgentScope's sessions use it as they use their own. The SQL and Redis
classes need their driver: install ``memmark-agentscope[sqlite]``
(``[postgres]``, ``[mysql]``) or ``memmark-agentscope[redis]``.

For AgentScope 2.x (which has no ``agentscope.memory``), add
:class:`memmark.agentscope.v2.MemmarkMiddleware` to an ``Agent``.

Every name here loads on first use, and only under the AgentScope major it
serves: importing :mod:`memmark.agentscope.v2` under 2.x never imports the
1.x modules, and a 1.x name asked for under 2.x raises an ``ImportError``
that says where to go instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memmark.agentscope._adapter import MemmarkMemory
    from memmark.agentscope._in_memory import InMemoryMemory
    from memmark.agentscope._redis import RedisMemory
    from memmark.agentscope._sql import AsyncSQLAlchemyMemory

__all__ = ["AsyncSQLAlchemyMemory", "InMemoryMemory", "MemmarkMemory", "RedisMemory"]

# name -> (module, the distribution's extra that brings its backend, or "")
_LAZY = {
    "MemmarkMemory": ("memmark.agentscope._adapter", ""),
    "InMemoryMemory": ("memmark.agentscope._in_memory", ""),
    "AsyncSQLAlchemyMemory": ("memmark.agentscope._sql", "memmark-agentscope[sqlite]"),
    "RedisMemory": ("memmark.agentscope._redis", "memmark-agentscope[redis]"),
}


def agentscope_major() -> int | None:
    """Return the major version of the installed AgentScope, ``None`` when it is not installed.

    Read from the distribution's metadata, so AgentScope is not imported.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("agentscope")
    except PackageNotFoundError:
        return None
    head = installed.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    major = agentscope_major()
    if major is not None and major >= 2:
        raise ImportError(
            f"memmark.agentscope.{name} serves AgentScope 1.x (agentscope.memory), and "
            f"AgentScope {major}.x is installed, which has no memory classes; with 2.x use "
            "memmark.agentscope.v2.MemmarkMiddleware in Agent(middlewares=[...])"
        )
    module_name, install = _LAZY[name]
    import importlib

    from memmark.core import MissingDependencyError

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not install or (exc.name is not None and exc.name.startswith("memmark.agentscope")):
            raise
        raise MissingDependencyError(exc.name or module_name, install) from exc
    value = getattr(module, name)
    globals()[name] = value
    return value
