"""Argument checks and state parsing, run before any I/O; public for backend authors.

:class:`~memmark.core.MemoryBase` runs these checks on every public call, so a
backend's hooks receive arguments already checked and normalised. A backend
uses this module for what the base cannot check for it: the ids its
constructor takes (:func:`check_text`), and helpers such as
:func:`encodable` or :func:`find_duplicates`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from memmark.core import values
from memmark.core.errors import InvalidStateError, MessageTooLargeError
from memmark.core.msg import ROLES, Msg
from memmark.core.values import MAX_JSON_DEPTH

__all__ = [
    "DEFAULT_SESSION_ID",
    "DEFAULT_USER_ID",
    "MAX_JSON_DEPTH",
    "NO_LIMIT_FROM",
    "check_bool",
    "check_ids",
    "check_limit",
    "check_mark",
    "check_marks",
    "check_message",
    "check_messages",
    "check_optional_mark",
    "check_size",
    "check_summary",
    "check_text",
    "checked_message_copy",
    "encodable",
    "find_duplicates",
    "parse_state",
    "session_ids",
]


def encodable(text: str) -> bool:
    """Return whether ``text`` encodes as UTF-8 (it holds no lone surrogate)."""
    return text.isascii() or values._utf8(text)


def _unencodable(arg: str) -> ValueError:
    return ValueError(f"{arg}: holds a lone surrogate, which no store can keep as UTF-8 text")


def check_text(value: object, arg: str) -> str:
    """Return ``value`` if it is a ``str`` that every store can hold.

    For ids a backend keeps as text (``user_id``, ``session_id``): a lone
    surrogate is a valid Python string but no valid UTF-8, and drivers either
    fail on it deep inside or, worse, store something else.
    """
    if not isinstance(value, str):
        raise TypeError(f"{arg}: expected a str, got {type(value).__name__}")
    if not encodable(value):
        raise _unencodable(arg)
    return value


DEFAULT_USER_ID = "default_user"
"""The user of a memory made with ``user_id=None``."""

DEFAULT_SESSION_ID = "default_session"
"""The session of a memory made with ``session_id=None``."""


def session_ids(user_id: object, session_id: object) -> tuple[str, str]:
    """Return ``(user_id, session_id)`` under the one policy every backend keeps.

    ``None`` stands for the default (``"default_user"`` / ``"default_session"``);
    any ``str`` a store can hold is an id, ``""`` included (ids are data: the
    empty string is kept apart from every other, like any id).

    Raises:
        TypeError: An id is neither ``None`` nor a ``str``.
        ValueError: An id holds a lone surrogate.
    """
    user = DEFAULT_USER_ID if user_id is None else check_text(user_id, "user_id")
    session = DEFAULT_SESSION_ID if session_id is None else check_text(session_id, "session_id")
    return user, session


def check_mark(mark: object, arg: str) -> str:
    """Return ``mark`` if it is a non-empty, storable ``str``; raise naming ``arg`` otherwise."""
    if not isinstance(mark, str):
        raise TypeError(f"{arg}: expected a str, got {type(mark).__name__}")
    if not mark:
        raise ValueError(f"{arg}: a mark must be a non-empty string")
    if not encodable(mark):
        raise _unencodable(arg)
    return mark


def check_optional_mark(mark: object, arg: str) -> str | None:
    """Like :func:`check_mark`, but ``None`` passes through."""
    return None if mark is None else check_mark(mark, arg)


def check_marks(marks: object, arg: str) -> list[str]:
    """Normalise ``None``, a mark or a list of marks to a list without repeats."""
    if marks is None:
        return []
    if isinstance(marks, str):
        return [check_mark(marks, arg)]
    if isinstance(marks, (list, tuple, set, frozenset)):
        # dict.fromkeys collapses repeats and keeps the first order.
        return list(dict.fromkeys(check_mark(m, f"{arg}[{i}]") for i, m in enumerate(marks)))
    raise TypeError(f"{arg}: expected a str, a list of str or None, got {type(marks).__name__}")


def check_ids(ids: object, arg: str) -> list[str]:
    """Normalise one id or an iterable of ids to a list without repeats."""
    if isinstance(ids, str):
        return [ids]
    if isinstance(ids, (bytes, Mapping)) or not isinstance(ids, Iterable):
        raise TypeError(f"{arg}: expected a str or an iterable of str, got {type(ids).__name__}")
    out: dict[str, None] = {}
    for i, one in enumerate(ids):
        if not isinstance(one, str):
            raise TypeError(f"{arg}[{i}]: expected a str, got {type(one).__name__}")
        out[one] = None
    return list(out)


NO_LIMIT_FROM = 2**31 - 1
"""A ``limit`` this large or larger keeps every message: no session holds that many.

It is also the largest a 32-bit SQL parameter takes, so no driver ever sees more.
"""


def check_limit(limit: object) -> int | None:
    """Return ``limit`` as the backends take it: ``None`` or an ``int`` below :data:`NO_LIMIT_FROM`.

    Raises:
        TypeError: ``limit`` is neither ``None`` nor an ``int``.
        ValueError: ``limit`` is negative.
    """
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise TypeError(f"limit: expected an int or None, got {type(limit).__name__}")
    if limit < 0:
        raise ValueError(f"limit: must be >= 0, got {limit}")
    return None if limit >= NO_LIMIT_FROM else int(limit)


def check_bool(value: object, arg: str) -> bool:
    """Return ``value`` if it is a ``bool``."""
    if not isinstance(value, bool):
        raise TypeError(f"{arg}: expected a bool, got {type(value).__name__}")
    return value


def check_summary(summary: object) -> str:
    """Return ``summary`` if it is a ``str`` every store can hold."""
    return check_text(summary, "summary")


def find_duplicates(msgs: list[Msg]) -> list[str]:
    """Return the ids that occur more than once in ``msgs``."""
    seen: set[str] = set()
    dups: dict[str, None] = {}
    for m in msgs:
        if m.id in seen:
            dups[m.id] = None
        seen.add(m.id)
    return list(dups)


def parse_state(
    state: object, strict: bool, limit: int | None = None, *, copy: bool = False
) -> tuple[list[tuple[Msg, list[str]]] | None, str]:
    """Validate a state dict and return its ``(content, summary)``.

    ``content`` is ``None`` when the state has none and ``strict`` is false
    (the memory keeps what it holds). Nothing is changed on error.

    Args:
        state: What ``state_dict()`` or ``export_state()`` gave.
        strict: Whether ``content`` must be there.
        limit: The memory's ``max_message_bytes``: a bigger message is refused,
            as ``add`` would refuse it.
        copy: Return messages that share nothing mutable with ``state``
            (see :func:`checked_message_copy`).

    Raises:
        TypeError: ``state`` is not a mapping.
        KeyError: ``content`` is missing and ``strict`` is true.
        MessageTooLargeError: A message is over ``limit`` or nests too deep.
        InvalidStateError: Anything else is malformed (a ``ValueError``).
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"state: expected a dict, got {type(state).__name__}")
    summary = state.get("_compressed_summary", "")
    if summary is None:
        summary = ""
    if not isinstance(summary, str):
        raise InvalidStateError(
            f"state['_compressed_summary']: expected a str, got {type(summary).__name__}"
        )
    if not encodable(summary):
        raise InvalidStateError("state['_compressed_summary']: holds a lone surrogate")
    if "content" not in state:
        if strict:
            raise KeyError("state: missing 'content'")
        return None, summary
    raw = state["content"]
    if not isinstance(raw, list):
        raise InvalidStateError(f"state['content']: expected a list, got {type(raw).__name__}")
    content: list[tuple[Msg, list[str]]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"state['content'][{i}]"
        data: Any
        marks: Any
        if isinstance(item, Mapping):  # the older form: plain message dicts, no marks
            data, marks = item, []
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            data, marks = item
        else:
            raise InvalidStateError(f"{where}: expected [message dict, [marks]] or a message dict")
        if not isinstance(data, Mapping):
            raise InvalidStateError(f"{where}: the message must be a dict")
        try:
            msg = Msg.from_dict(data)
            if copy:
                msg = checked_message_copy(msg, where, limit)
            else:
                check_message(msg, where, limit)
            checked = check_marks(marks, f"{where} marks")
        except MessageTooLargeError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidStateError(f"{where}: {exc}") from exc
        if not isinstance(marks, list):
            raise InvalidStateError(f"{where}: marks must be a list")
        if msg.id in seen:
            raise InvalidStateError(f"{where}: duplicate message id {msg.id!r}")
        seen.add(msg.id)
        content.append((msg, checked))
    return content, summary


def check_message(msg: Msg, where: str, limit: int | None = None) -> None:
    """Refuse a message a store could not keep and give back equal.

    Every field is checked again (a caller may have assigned any of them
    after the message was made): ``id``, ``name`` and ``timestamp`` are
    strings, ``invocation_id`` a string or ``None``, ``role`` one of the
    three roles, ``content`` a string or a list of blocks (dicts with a
    ``"type"``), ``metadata`` ``None`` or a dict; every string is valid UTF-8
    and every value in the content blocks and metadata is one
    :mod:`memmark.core.values` accepts.

    Args:
        msg: The message.
        where: Where it came from, for the error, e.g. ``"memories[2]"``.
        limit: The largest UTF-8 JSON size allowed, or ``None``.

    Raises:
        TypeError: A field has the wrong type.
        MessageTooLargeError: It is over ``limit`` or nests deeper than
            :data:`~memmark.core.values.MAX_JSON_DEPTH` (a ``ValueError``).
        ValueError: Anything else is refused; the error names the message
            and the field.
    """
    _check_message(msg, where, limit, False)


def checked_message_copy(msg: Msg, where: str, limit: int | None = None) -> Msg:
    """Check ``msg`` as :func:`check_message` does and return a copy of it, from the same walk.

    The copy is a plain :class:`~memmark.core.Msg` that shares nothing
    mutable with ``msg``: what :meth:`Msg.copy <memmark.core.Msg.copy>`
    gives, with subclasses of the JSON types in its content and metadata
    copied as their base type (see :func:`~memmark.core.values.checked_copy`).

    Raises:
        TypeError: As :func:`check_message`.
        ValueError: As :func:`check_message`.
    """
    copied = _check_message(msg, where, limit, True)
    assert copied is not None  # made whenever asked for
    return copied


def _check_message(msg: Msg, where: str, limit: int | None, copy: bool) -> Msg | None:
    """:func:`check_message`, and when ``copy`` is true the copy of the values checked."""
    msg_id = msg.id
    if not isinstance(msg_id, str):
        raise TypeError(f"{where}: the message id must be a str, got {type(msg_id).__name__}")
    name, stamp, invocation = msg.name, msg.timestamp, msg.invocation_id
    # The keys and punctuation of the stored object (89 bytes with every key),
    # the role (11 at most) and a null metadata (4); the fields are added below.
    bound = 128
    if (
        type(msg_id) is str
        and type(name) is str
        and type(stamp) is str
        and msg_id.isascii()
        and name.isascii()
        and stamp.isascii()
        and (invocation is None or (type(invocation) is str and invocation.isascii()))
    ):
        # Plain ASCII text, as nearly every message's: passed on cheap tests.
        bound += 6 * (len(msg_id) + len(name) + len(stamp)) + 6
        if invocation is not None:
            bound += 6 * len(invocation) + 2
    else:
        for field, text in (
            ("id", msg_id),
            ("name", name),
            ("timestamp", stamp),
            ("invocation_id", invocation),
        ):
            # Anything else is checked (and the error's label made) only now.
            if type(text) is not str or not text.isascii():
                if text is None and field == "invocation_id":
                    continue
                check_text(text, f"{_label(where, msg_id)} {field}")
            bound += 6 * len(text) + 2  # type: ignore[arg-type]  # checked: a str
    role = msg.role
    if not isinstance(role, str) or role not in ROLES:
        raise ValueError(
            f"{_label(where, msg_id)} role: must be 'user', 'assistant' or 'system', got {role!r}"
        )
    content: Any = msg.content
    if type(content) is str and content.isascii():
        bound += 6 * len(content) + 2
    elif isinstance(content, str):
        check_text(content, f"{_label(where, msg_id)} content")
        bound += 6 * len(content) + 2
        if copy and type(content) is not str:
            content = str.__str__(content)  # kept as its base type
    elif isinstance(content, list):
        for i, block in enumerate(content):
            if not isinstance(block, dict) or "type" not in block:
                raise TypeError(
                    f"{_label(where, msg_id)} content[{i}]: "
                    "a block must be a dict with a 'type' key"
                )
        content, size = _checked_json(content, copy, where, msg_id, "content")
        bound += size
    else:
        raise TypeError(
            f"{_label(where, msg_id)} content: expected a str or a list of blocks, "
            f"got {type(content).__name__}"
        )
    metadata: Any = msg.metadata
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise TypeError(
                f"{_label(where, msg_id)} metadata: expected a dict or None, "
                f"got {type(metadata).__name__}"
            )
        metadata, size = _checked_json(metadata, copy, where, msg_id, "metadata")
        bound += size
    if not copy:
        if limit is not None and bound > limit:
            check_size(msg, limit, where)
        return None
    copied = _new(Msg)
    copied._set(msg_id, name, content, role, metadata, stamp, invocation)
    if limit is not None and bound > limit:
        check_size(copied, limit, where)
    return copied


_new = object.__new__


def _explain(value: object, field: str) -> tuple[object, int]:
    # A value checked_copy refused: check_value raises naming the path. Were
    # the two walks ever to disagree, the definition's answer would stand.
    bound = values.check_value(value, field)
    return values.copy_value(value), bound


def _checked_json(value: Any, copy: bool, where: str, msg_id: str, field: str) -> tuple[Any, int]:
    """Return ``value`` (its copy, with ``copy``) and a bound on its JSON size.

    Raises, naming the message's ``field``, when the value is not JSON that
    reads back equal; the label is made only then.
    """
    if copy:
        return values.checked_copy(value) or _explain(value, f"{_label(where, msg_id)} {field}")
    size = values.json_bound(value)
    if size is None:
        size = values.check_value(value, f"{_label(where, msg_id)} {field}")
    return value, size


def _label(where: str, msg_id: str) -> str:
    # The start of every error about one message; made only when one is raised.
    return f"{where}: message {msg_id[:40]!a}"


def check_messages(memories: object, limit: int | None, *, copy: bool = False) -> list[Msg]:
    """Normalise ``add``'s ``memories`` to a list of messages every store can keep.

    ``memories`` is a ``Msg``, a list or tuple of ``Msg``, or ``None`` (no
    messages). One pass checks each item: an exact ``Msg`` of plain ASCII
    text far below the limit passes on type and length tests alone; any
    other is type-checked, walked for depth, checked to encode as UTF-8 and
    measured as the UTF-8 JSON of ``to_dict()``.

    Args:
        memories: What ``add`` was given.
        limit: The largest UTF-8 JSON size of a message, or ``None``.
        copy: Return copies of the messages (see :func:`checked_message_copy`),
            made in the walk that checks them, instead of the messages.

    Raises:
        TypeError: ``memories`` or one of its items is not a ``Msg``.
        MessageTooLargeError: A message's JSON is over ``limit`` bytes, or it
            nests too deep (a ``ValueError``).
        ValueError: A string of a message holds a lone surrogate.
    """
    if memories is None:
        return []
    if isinstance(memories, Msg):
        msgs = [memories]
    elif isinstance(memories, (list, tuple)):
        msgs = list(memories)
    else:
        raise TypeError(
            f"memories: expected a Msg, a list of Msg or None, got {type(memories).__name__}"
        )
    copies: list[Msg] = []
    # A plain ASCII message is at most 6 bytes of JSON a character (a \u00XX
    # escape), 2 quotes a field and 128 bytes of keys, punctuation and role
    # (see check_message): under ``quick`` characters it is within the limit.
    quick = ((limit if limit is not None else 1 << 62) - 128 - 10) // 6
    for i, m in enumerate(msgs):
        # Any field may have been assigned after the message was made, so
        # the fast path tests every one's type, then plain ASCII and length.
        if (
            type(m) is Msg
            and type(content := m.content) is str
            and m.metadata is None
            and type(name := m.name) is str
            and type(msg_id := m.id) is str
            and type(stamp := m.timestamp) is str
            and type(role := m.role) is str
            and role in ROLES
            and content.isascii()
            and msg_id.isascii()
            and name.isascii()
            and stamp.isascii()
            and (
                (invocation := m.invocation_id) is None
                or (type(invocation) is str and invocation.isascii())
            )
            and len(content)
            + len(name)
            + len(msg_id)
            + len(stamp)
            + (0 if invocation is None else len(invocation))
            <= quick
        ):
            if copy:
                # Every field immutable: the copy is the same fields in a new Msg.
                plain = _new(Msg)
                plain._set(msg_id, name, content, role, None, stamp, invocation)
                copies.append(plain)
            continue
        if not isinstance(m, Msg):
            raise TypeError(f"memories[{i}]: expected a Msg, got {type(m).__name__}")
        if copy:
            copies.append(checked_message_copy(m, f"memories[{i}]", limit))
        else:
            check_message(m, f"memories[{i}]", limit)
    return copies if copy else msgs


def check_size(msg: Msg, limit: int, where: str) -> None:
    """Refuse a message whose UTF-8 JSON is over ``limit`` bytes.

    Raises:
        MessageTooLargeError: It is.
    """
    size = len(json.dumps(msg.to_dict(), ensure_ascii=False, default=str).encode())
    if size > limit:
        raise MessageTooLargeError(
            f"{where}: message {msg.id[:40]!r} is {size:,} bytes, over the limit of "
            f"{limit:,} (max_message_bytes)"
        )
