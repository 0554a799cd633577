"""AgentScope 2.x agents on memmark: a middleware that keeps the agent's session.

::

    from memmark.agentscope.v2 import MemmarkMiddleware

    agent = Agent(..., middlewares=[MemmarkMiddleware(url, user_id=..., session_id=...)])

See :class:`MemmarkMiddleware`. Messages convert exactly both ways with
:func:`to_memmark` and :func:`to_agentscope`. This module needs AgentScope
2.x; the memories of ``memmark.agentscope`` need 1.x.
"""

from __future__ import annotations

from memmark.agentscope import agentscope_major

_major = agentscope_major()
if _major is None or _major < 2:
    raise ImportError(
        "memmark.agentscope.v2 serves AgentScope 2.x, and "
        + ("AgentScope is not installed" if _major is None else f"AgentScope {_major}.x is")
        + "; with 1.x use the memories of memmark.agentscope (InMemoryMemory, "
        "AsyncSQLAlchemyMemory, RedisMemory)"
    )

from memmark.agentscope.v2._convert import to_agentscope, to_memmark  # noqa: E402
from memmark.agentscope.v2._middleware import (  # noqa: E402
    COMPRESSED,
    MemmarkMiddleware,
    MemoryOpener,
    StaleSessionError,
    original_id,
    read_compressed,
)

__all__ = [
    "COMPRESSED",
    "MemmarkMiddleware",
    "MemoryOpener",
    "StaleSessionError",
    "original_id",
    "read_compressed",
    "to_agentscope",
    "to_memmark",
]
