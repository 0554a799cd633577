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

from memmark.core.errors import InvalidStateError, MessageTooLargeError
from memmark.core.msg import Msg


def encodable(text: str) -> bool:
    """Return whether ``text`` encodes as UTF-8 (it holds no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


def check_limit(limit: object) -> int | None:
    """Return ``limit`` if it is ``None`` or a non-negative ``int``."""
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise TypeError(f"limit: expected an int or None, got {type(limit).__name__}")
    if limit < 0:
        raise ValueError(f"limit: must be >= 0, got {limit}")
    return limit


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
    state: object, strict: bool, limit: int | None = None
) -> tuple[list[tuple[Msg, list[str]]] | None, str]:
    """Validate a state dict and return its ``(content, summary)``.

    ``content`` is ``None`` when the state has none and ``strict`` is false
    (the memory keeps what it holds). Nothing is changed on error.

    Args:
        state: What ``state_dict()`` or ``export_state()`` gave.
        strict: Whether ``content`` must be there.
        limit: The memory's ``max_message_bytes``: a bigger message is refused,
            as ``add`` would refuse it.

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
            check_message(msg, where)
            checked = check_marks(marks, f"{where} marks")
        except MessageTooLargeError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidStateError(f"{where}: {exc}") from exc
        if limit is not None:
            check_size(msg, limit, where)
        if not isinstance(marks, list):
            raise InvalidStateError(f"{where}: marks must be a list")
        if msg.id in seen:
            raise InvalidStateError(f"{where}: duplicate message id {msg.id!r}")
        seen.add(msg.id)
        content.append((msg, checked))
    return content, summary


MAX_JSON_DEPTH = 30
"""How deep ``content`` and ``metadata`` may nest, counted as SQL's ``JSON_DEPTH``.

A message is stored as one JSON document whose fields sit one level down, so
this keeps every message within MariaDB's limit of 31 levels for a JSON
column: any message one backend takes, every backend can store, and a
session can always move between them. It also keeps encoders and copies far
from Python's recursion limit.
"""


def too_deep(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Return whether ``value`` nests deeper than ``limit`` (a scalar is depth 1).

    Iterative, so a hostile 100,000-level value cannot exhaust the stack.
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[object] = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        for child in children:
            if depth + 1 > limit:
                return True
            if isinstance(child, (dict, list, tuple)) and child:
                stack.append((child, depth + 1))
    return False


def check_message(msg: Msg, where: str) -> None:
    """Refuse a message no store can keep: nested too deep, or not encodable as UTF-8.

    Raises:
        MessageTooLargeError: The content or metadata nest deeper than
            :data:`MAX_JSON_DEPTH`.
        ValueError: A string of the message holds a lone surrogate.
    """
    if (type(msg.content) is not str and too_deep(msg.content)) or (
        msg.metadata is not None and too_deep(msg.metadata)
    ):
        raise MessageTooLargeError(
            f"{where}: message {msg.id[:40]!r} nests deeper than {MAX_JSON_DEPTH} levels "
            "in its content or metadata"
        )
    if not _fields_encodable(msg):
        raise _unencodable(f"{where}: message {msg.id[:40]!a}")


def _fields_encodable(msg: Msg) -> bool:
    if type(msg.content) is str and msg.metadata is None:
        texts = (msg.id, msg.name, msg.content, msg.timestamp, msg.invocation_id or "")
        return all(encodable(text) for text in texts)
    try:
        json.dumps(msg.to_dict(), ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_messages(memories: object, limit: int | None) -> list[Msg]:
    """Normalise ``add``'s ``memories`` to a list of messages every store can keep.

    ``memories`` is a ``Msg``, a list or tuple of ``Msg``, or ``None`` (no
    messages). One pass checks each item: an exact ``Msg`` of plain ASCII
    text far below the limit passes on type and length tests alone; any
    other is type-checked, walked for depth, checked to encode as UTF-8 and
    measured as the UTF-8 JSON of ``to_dict()``.

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
    quick = (limit if limit is not None else 1 << 62) // 4  # a character is <= 4 UTF-8 bytes
    for i, m in enumerate(msgs):
        if (
            type(m) is Msg
            and type(content := m.content) is str
            and m.metadata is None
            and len(content) + len(m.name) + len(m.id) < quick
            and content.isascii()
            and m.id.isascii()
            and m.name.isascii()
            and m.timestamp.isascii()
            and (m.invocation_id is None or m.invocation_id.isascii())
        ):
            continue
        if not isinstance(m, Msg):
            raise TypeError(f"memories[{i}]: expected a Msg, got {type(m).__name__}")
        where = f"memories[{i}]"
        check_message(m, where)
        if limit is not None:
            check_size(m, limit, where)
    return msgs


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
