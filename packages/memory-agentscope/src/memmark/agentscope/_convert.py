"""The seam between AgentScope's ``Msg`` and memmark's, crossed once per message.

Both classes carry the same seven fields (id, name, role, content, metadata,
timestamp, invocation_id), so a conversion fills a new object's fields
without running the constructor, which would make a fresh id and timestamp
only for them to be overwritten.

On the way in nothing is copied here: the memmark backend copies (in
process) or encodes (SQL, Redis) the message during ``add``, so later
changes to the caller's object never reach the store.

On the way out there are two cases. A backend that decodes new messages on
every read (SQL today) hands over objects nobody else holds, so their
AgentScope messages share their values (:func:`to_agentscope`). A backend
that hands out the same messages read after read (the Redis backend's cache
of decoded sessions) would make a read convert the whole session again and
again; there each message is converted once (:func:`to_agentscope_shared`),
with its own copy of the content and metadata so that nothing a caller does
to it can reach the backend's objects, and later reads of the same message
object return the same AgentScope message: a lookup, not a conversion, and
for the part of a read that repeats the memory's last read not even that
(:class:`SharedReads`).
"""

from __future__ import annotations

import weakref
from enum import Enum
from itertools import compress, count, islice
from operator import is_not
from typing import Any

from agentscope.message import Msg as AgentScopeMsg

from memmark.core import Msg as CoreMsg
from memmark.core.values import copy_value

_new = object.__new__


_to_core = CoreMsg.sharing_fields_of


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
    if type(memories) is AgentScopeMsg:  # what an agent adds, first
        return [_to_core(memories)]
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
    """Return new AgentScope messages with the fields of memmark's ``msgs``.

    For messages nobody else holds (a backend that decodes new ones on every
    read): the values (content blocks, metadata) are ``msgs``' own, not
    copies. Each result's attribute dict is filled in one step, the cheapest
    way CPython builds the object.
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


# -- converted once, for backends that hand out the same messages again ------------


class _Converted(weakref.ref):  # type: ignore[type-arg]  # a ref to a CoreMsg
    """A weak reference to a memmark message, carrying its AgentScope message."""

    __slots__ = ("key", "msg")

    key: int
    msg: AgentScopeMsg


# id(memmark message) -> its entry. An entry lives exactly as long as its
# message (the weak reference's callback removes it), so the map is bounded
# by what the backend keeps: a Redis session dropped from its cache, or a
# deleted message, takes its converted copy with it. The identity check on
# lookup covers a message whose callback has not run (never a stale hit).
_converted: dict[int, _Converted] = {}


def _forget(ref: _Converted) -> None:
    # The message is gone. A newer entry may hold the key only if this one's
    # callback ran late; leave that one be.
    if _converted.get(ref.key) is ref:
        _converted.pop(ref.key, None)


def _convert_once(m: CoreMsg) -> AgentScopeMsg:
    content = m.content
    metadata = m.metadata
    msg = _new(AgentScopeMsg)
    # Copies: the backend's message stays its own whatever a caller does to
    # this one. Strings are immutable, so a text content is shared.
    msg.__dict__ = {
        "name": m.name,
        "content": content if type(content) is str else copy_value(content),
        "role": m.role,
        "metadata": None if metadata is None else copy_value(metadata),
        "id": m.id,
        "timestamp": m.timestamp,
        "invocation_id": m.invocation_id,
    }
    ref = _Converted(m, _forget)
    ref.key = key = id(m)
    ref.msg = msg
    _converted[key] = ref
    return msg


def to_agentscope_shared(msgs: list[CoreMsg]) -> list[AgentScopeMsg]:
    """Return the AgentScope message of each of ``msgs``, converting each message once.

    For a backend that hands out the same message objects read after read.
    A message converted before costs a lookup; one seen for the first time
    is converted with copies of its content and metadata, which the result
    owns. The results are shared with every later read of the same messages
    in this process: they are to be treated as read-only, and a change to
    one never reaches the backend's message.
    """
    get = _converted.get
    ident = id
    out: list[AgentScopeMsg] = []
    append = out.append
    for m in msgs:
        ref = get(ident(m))
        if ref is not None and ref() is m:
            append(ref.msg)
        else:
            append(_convert_once(m))
    return out


def _same_until(msgs: list[CoreMsg], last: list[CoreMsg], start: int) -> int:
    """Return the first index from ``start`` where the two lists hold different objects."""
    # One pass in C: compare by identity, stop at the first difference.
    differ = map(is_not, islice(msgs, start, None), islice(last, start, None))
    return next(compress(count(start), differ), min(len(msgs), len(last)))


class SharedReads:
    """The reads of one memory whose backend hands out the same messages again.

    A read mostly repeats the memory's last read and appends to it (an
    agent's reads, turn after turn), so the AgentScope messages of the part
    it shares with the last read, compared by identity, are taken from the
    last result in one pass, and only the rest is looked up or converted
    (:func:`to_agentscope_shared`). The result is the same either way. Each
    memory keeps its last read: the messages, and a list of the results
    that the caller never sees.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[list[CoreMsg], list[AgentScopeMsg]] = ([], [])

    def convert(self, msgs: list[CoreMsg]) -> list[AgentScopeMsg]:
        """Return the AgentScope message of each of ``msgs`` (the backend's fresh list)."""
        sources, results = self._last
        start = _same_until(msgs, sources, 0)
        if start == 0 and msgs and sources:
            # A head made anew for each read (the summary message), often
            # followed by the same messages as last time.
            out = to_agentscope_shared(msgs[:1])
            start = _same_until(msgs, sources, 1)
            out += results[1:start]
        else:
            out = results[:start]
        if start < len(msgs):
            out += to_agentscope_shared(msgs[start:])
        # The backend's list is this memory's own; the result goes to the caller.
        self._last = (msgs, out[:])
        return out


# -- marks -------------------------------------------------------------------------

# id(enum member) -> (the member, its plain value). Members live as long as
# their class, so the map is bounded by the members ever passed (a handful:
# AgentScope's _MemoryMark); holding the member keeps its id from being reused.
_plain_members: dict[int, tuple[object, str]] = {}
_MAX_PLAIN_MEMBERS = 1024


def plain_mark(mark: Any) -> Any:
    """Return a mark as a plain ``str`` when it is a ``str`` subclass.

    AgentScope passes its marks as members of a ``str`` enum: they compare
    equal to their value but hash and format differently (``f"{mark}"`` is
    ``"_MemoryMark.HINT"`` on Python 3.11), so they would be stored under
    another name or missed in an index. Anything that is not a ``str`` is
    returned unchanged, for the backend to refuse with its own message.
    """
    if type(mark) is str or mark is None:
        return mark
    # An enum member's value is a property, slow to read: remember it.
    known = _plain_members.get(id(mark))
    if known is not None and known[0] is mark:
        return known[1]
    if not isinstance(mark, str):
        return mark
    if isinstance(mark, Enum) and isinstance(mark.value, str):
        plain = str.__str__(mark.value)
        if len(_plain_members) < _MAX_PLAIN_MEMBERS:
            _plain_members[id(mark)] = (mark, plain)
        return plain
    return str.__str__(mark)


def plain_marks(marks: Any) -> Any:
    """Apply :func:`plain_mark` to a mark or to each mark of a list or tuple."""
    if marks is None or type(marks) is str:
        return marks
    if isinstance(marks, (list, tuple)):
        return [plain_mark(m) for m in marks]
    return plain_mark(marks)
