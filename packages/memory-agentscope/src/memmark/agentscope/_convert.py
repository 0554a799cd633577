"""The seam between AgentScope's ``Msg`` and memmark's, crossed once per message.

Both classes carry the same seven fields (id, name, role, content, metadata,
timestamp, invocation_id), so a conversion is a copy of seven references into
a new object, built without the constructor: the constructor would make a
fresh id and timestamp only for them to be overwritten. Nothing is deep-copied
here. On the way in, the memmark backend copies (in process) or encodes (SQL,
Redis) the message during ``add``, so later changes to the caller's object
never reach the store; on the way out, the objects are new, made from what
the backend returned.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from agentscope.message import Msg as AgentScopeMsg

from memmark.core import Msg as CoreMsg

_new = object.__new__


def _to_core(msg: AgentScopeMsg) -> CoreMsg:
    core = _new(CoreMsg)
    core.id = msg.id
    core.name = msg.name
    core.role = msg.role
    core.content = msg.content
    core.metadata = msg.metadata
    core.timestamp = msg.timestamp
    core.invocation_id = msg.invocation_id
    return core


def to_core(memories: object) -> list[CoreMsg]:
    """Return ``add``'s ``memories`` as memmark messages sharing the caller's values.

    The fields are not checked here: the backend's ``add`` checks every
    field of every message it gets (types, roles, the value policy) before
    any I/O, and its errors name the message and the field.

    Args:
        memories: An AgentScope ``Msg``, a list or tuple of them, or ``None``.

    Returns:
        One memmark ``Msg`` per message, in order (empty for ``None``).

    Raises:
        TypeError: ``memories`` is none of those.
    """
    if memories is None:
        return []
    if isinstance(memories, AgentScopeMsg):
        return [_to_core(memories)]
    if not isinstance(memories, (list, tuple)):
        raise TypeError(
            "memories: expected an agentscope Msg, a list of them or None, "
            f"got {type(memories).__name__}"
        )
    out: list[CoreMsg] = []
    for i, msg in enumerate(memories):
        if not isinstance(msg, AgentScopeMsg):
            raise TypeError(f"memories[{i}]: expected an agentscope Msg, got {type(msg).__name__}")
        out.append(_to_core(msg))
    return out


def to_agentscope(msgs: list[CoreMsg]) -> list[AgentScopeMsg]:
    """Return AgentScope messages with the fields of memmark's ``msgs``.

    Each result is a new object whose attribute dict is filled in one step,
    which is the cheapest way CPython builds it; the values (content blocks,
    metadata) are the backend's, not copies.
    """
    out: list[AgentScopeMsg] = []
    append = out.append
    new = _new
    cls = AgentScopeMsg
    for m in msgs:
        msg = new(cls)
        msg.__dict__ = {
            "name": m.name,
            "content": m.content,
            "role": m.role,
            "metadata": m.metadata,
            "id": m.id,
            "timestamp": m.timestamp,
            "invocation_id": m.invocation_id,
        }
        append(msg)
    return out


def plain_mark(mark: Any) -> Any:
    """Return a mark as a plain ``str`` when it is a ``str`` subclass.

    AgentScope passes its marks as members of a ``str`` enum: they compare
    equal to their value but hash and format differently (``f"{mark}"`` is
    ``"_MemoryMark.HINT"`` on Python 3.11), so they would be stored under
    another name or missed in an index. Anything that is not a ``str`` is
    returned unchanged, for the backend to refuse with its own message.
    """
    if type(mark) is str or not isinstance(mark, str):
        return mark
    if isinstance(mark, Enum) and isinstance(mark.value, str):
        return str.__str__(mark.value)
    return str.__str__(mark)


def plain_marks(marks: Any) -> Any:
    """Apply :func:`plain_mark` to a mark or to each mark of a list or tuple."""
    if isinstance(marks, (list, tuple)):
        return [plain_mark(m) for m in marks]
    return plain_mark(marks)
