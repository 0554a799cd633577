"""What a message may hold: JSON values that every store keeps and gives back equal.

A message's ``content`` blocks and ``metadata`` are stored as JSON in SQL, as
msgpack in Redis, and must survive ``export_state`` / ``import_state``
between any two backends. So each value in them is one of:

* ``None``, ``bool``, ``str`` (valid UTF-8: no lone surrogates);
* ``int`` from ``-2**63`` to ``2**63 - 1`` (every store keeps these exactly;
  past 64 bits SQLite, MariaDB and msgpack cannot);
* a finite ``float`` (``NaN`` and the infinities are not JSON);
* a ``list`` of such values, or a ``dict`` with ``str`` keys and such values,

nesting at most :data:`MAX_JSON_DEPTH` levels. Tuples, sets, bytes,
datetimes, non-string keys and every other object are refused, because a
store would turn them into something else (a list, a string) or fail later.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any

from memmark.core.errors import MessageTooLargeError

MAX_JSON_DEPTH = 30
"""How deep ``content`` and ``metadata`` may nest, counted as SQL's ``JSON_DEPTH``.

A message is stored as one JSON document whose fields sit one level down, so
this keeps every message within MariaDB's limit of 31 levels for a JSON
column. It also keeps encoders and copies far from Python's recursion limit.
"""

MIN_INT = -(2**63)
"""The smallest integer a message may hold."""

MAX_INT = 2**63 - 1
"""The largest integer a message may hold."""

_SCALAR_BOUND = 24  # JSON bytes of any int in range, any float, true, false, null


def _text_bound(text: str) -> int:
    # A character takes at most 6 bytes of JSON (a \u00XX escape); the quotes 2.
    return 6 * len(text) + 2


def _is_text(value: object) -> bool:
    if not isinstance(value, str):
        return False
    return value.isascii() or _utf8(value)


def json_bound(value: object) -> int | None:
    """Return an upper bound of ``value``'s UTF-8 JSON size, or ``None`` if it is refused.

    One pass that accepts exactly the values described in this module and
    bounds their encoded size, so a caller compares the bound to a limit and
    measures exactly only when the bound is over it. Recursive, but it stops
    at :data:`MAX_JSON_DEPTH`, so a hostile 100,000-level value cannot
    exhaust the stack.

    Args:
        value: A message's ``content`` (a list of blocks) or ``metadata``.
    """
    kind = type(value)
    if kind is dict:
        bound = _bound_dict(value, 1)  # type: ignore[arg-type]
    elif kind is list:
        bound = _bound_list(value, 1)  # type: ignore[arg-type]
    else:
        bound = _bound(value, 1)
    return None if bound < 0 else bound


_REFUSED = -1


def _utf8(text: str) -> bool:
    """Return whether ``text`` encodes as UTF-8: it holds no surrogate code point."""
    try:
        # UTF-16 refuses exactly the strings UTF-8 refuses (those holding a
        # surrogate code point), and CPython encodes one- and two-byte
        # strings to it faster: nearly a copy, where UTF-8 must expand every
        # character past ASCII (20,000 characters: about 20x for Latin-1
        # text, 2.5x for two-byte text, measured alone on a quiet machine).
        text.encode("utf-16-le")
    except UnicodeEncodeError:
        return False
    return True


# _bound_dict and _bound_list are _bound unrolled for the exact types that
# make up nearly every message: a child that is a str, bool, None, int,
# float, dict or list is handled in the parent's loop, without a call; any
# other child (a subclass, or something refused) goes to _bound, which is
# the definition. Same decisions, same bounds, fewer calls.


def _bound_dict(node: dict[object, object], depth: int) -> int:
    if depth >= MAX_JSON_DEPTH and node:
        return _REFUSED
    total = 2
    for key in node:
        # Each entry: the key's bound, then ": " and ", " (json.dumps's
        # separators, which check_size measures); its value is bounded below.
        if (type(key) is str and key.isascii()) or _is_text(key):
            total += 6 * len(key) + 6  # type: ignore[arg-type]
        else:
            return _REFUSED
    values = _bound_values(node.values(), depth + 1)
    return _REFUSED if values < 0 else total + values


def _bound_list(node: list[object], depth: int) -> int:
    if depth >= MAX_JSON_DEPTH and node:
        return _REFUSED
    values = _bound_values(node, depth + 1)
    # The brackets, and ", " after each item.
    return _REFUSED if values < 0 else 2 + 2 * len(node) + values


def _bound_values(children: Iterable[object], depth: int) -> int:
    """The bounds of a container's values, at ``depth``, added up; ``_REFUSED`` for any refused."""
    total = 0
    for child in children:
        kind = type(child)
        if kind is str:
            if child.isascii() or _utf8(child):  # type: ignore[attr-defined,arg-type]
                total += 6 * len(child) + 2  # type: ignore[arg-type]
                continue
            return _REFUSED
        if kind is dict:
            size = _bound_dict(child, depth)  # type: ignore[arg-type]
        elif kind is list:
            size = _bound_list(child, depth)  # type: ignore[arg-type]
        elif kind is bool or child is None:
            size = _SCALAR_BOUND
        elif kind is int:
            size = _SCALAR_BOUND if MIN_INT <= child <= MAX_INT else _REFUSED  # type: ignore[operator]
        elif kind is float:
            size = _SCALAR_BOUND if math.isfinite(child) else _REFUSED  # type: ignore[arg-type]
        else:
            size = _bound(child, depth)
        if size < 0:
            return _REFUSED
        total += size
    return total


def _bound(node: object, depth: int) -> int:
    kind = type(node)
    if kind is str:
        return _text_bound(node) if _is_text(node) else _REFUSED  # type: ignore[arg-type]
    if kind is dict:
        if depth >= MAX_JSON_DEPTH and node:
            return _REFUSED
        total = 2
        for key, child in node.items():  # type: ignore[attr-defined]
            if not _is_text(key):
                return _REFUSED
            size = _bound(child, depth + 1)
            if size < 0:
                return _REFUSED
            total += size + _text_bound(key) + 4
        return total
    if kind is list:
        if depth >= MAX_JSON_DEPTH and node:
            return _REFUSED
        total = 2
        for child in node:  # type: ignore[attr-defined]
            size = _bound(child, depth + 1)
            if size < 0:
                return _REFUSED
            total += size + 2
        return total
    if kind is int:
        return _SCALAR_BOUND if MIN_INT <= node <= MAX_INT else _REFUSED  # type: ignore[operator]
    if node is None or kind is bool:
        return _SCALAR_BOUND
    if kind is float:
        return _SCALAR_BOUND if math.isfinite(node) else _REFUSED  # type: ignore[arg-type]
    base = _as_base_type(node)
    return _REFUSED if base is None else _bound(base, depth)


def _as_base_type(node: object) -> object | None:
    """Return a subclass of a JSON type as its base type; ``None`` for any other value.

    Subclasses (a str enum, an OrderedDict) are stored as their base type and
    read back equal to the original.
    """
    if isinstance(node, str):
        # str.__str__, not str(): a (str, Enum) member's str() is its name.
        return str.__str__(node)
    if isinstance(node, dict):
        return dict(node)
    if isinstance(node, list):
        return list(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, int) and not isinstance(node, bool):
        return int(node)
    return None


def why_refused(value: object, field: str) -> str | None:
    """Return why ``value`` is no message value, naming the path within ``field``.

    ``None`` when it is one. Slower than :func:`json_bound`; call it to
    explain a refusal.

    Args:
        value: The value :func:`json_bound` refused.
        field: Its name, e.g. ``"metadata"``.
    """
    stack: list[tuple[object, str, int]] = [(value, field, 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, bool) or node is None:
            continue
        if isinstance(node, str):
            if not _is_text(node):
                return f"{path}: holds a lone surrogate, which is not UTF-8 text"
        elif isinstance(node, int):
            if not MIN_INT <= node <= MAX_INT:
                return f"{path}: the integer {node} is outside the 64-bit range a store keeps"
        elif isinstance(node, float):
            if not math.isfinite(node):
                return f"{path}: {node!r} is not a JSON number"
        elif isinstance(node, dict | list):
            if depth >= MAX_JSON_DEPTH and node:
                return f"{path}: nests deeper than {MAX_JSON_DEPTH} levels"
            if isinstance(node, list):
                stack.extend((c, f"{path}[{i}]", depth + 1) for i, c in enumerate(node))
                continue
            for key, child in node.items():
                if not isinstance(key, str):
                    return f"{path}: the key {key!r} is a {type(key).__name__}, not a str"
                if not _is_text(key):
                    return f"{path}: the key {key!a} holds a lone surrogate"
                stack.append((child, f"{path}[{key!r}]", depth + 1))
        else:
            return f"{path}: a {type(node).__name__} is not a JSON value"
    return None


def check_value(value: object, field: str) -> int:
    """Return a bound of ``value``'s JSON size if it is a message value; raise otherwise.

    Args:
        value: A message's ``content`` blocks or ``metadata``.
        field: Its name, for the error, e.g. ``"memories[2]: message 'x' metadata"``.

    Raises:
        MessageTooLargeError: It nests deeper than :data:`MAX_JSON_DEPTH`
            (a ``ValueError``).
        ValueError: It holds anything else this module refuses.
    """
    bound = json_bound(value)
    if bound is not None:
        return bound
    reason = why_refused(value, field) or f"{field}: is not a JSON value"
    if "nests deeper" in reason:
        raise MessageTooLargeError(reason)
    raise ValueError(reason)


def copy_value(value: object) -> object:
    """Return a copy of a checked message value that shares nothing mutable with it.

    Only dicts and lists are copied; every other value a message may hold is
    immutable. Several times faster than :func:`copy.deepcopy`, which keeps
    a memo of every object it meets. Recursive: call it on values that
    passed :func:`check_value`, whose depth is bounded.

    Args:
        value: A message's ``content`` blocks or ``metadata``, already checked.
    """
    kind = type(value)
    if kind is dict:
        return _copy_dict(value)  # type: ignore[arg-type]
    if kind is list:
        return _copy_list(value)  # type: ignore[arg-type]
    return _copy_other(value)


# The exact types a copy shares with its original: immutable, so sharing is safe.
# A set lookup of the type tests all five at once.
_SHARED = frozenset((str, int, float, bool, type(None)))


def _copy_dict(node: dict[Any, object]) -> dict[Any, object]:
    shared = _SHARED
    return {
        key: child if type(child) in shared else copy_value(child) for key, child in node.items()
    }


def _copy_list(node: list[object]) -> list[object]:
    shared = _SHARED
    return [child if type(child) in shared else copy_value(child) for child in node]


def _copy_other(value: object) -> object:
    if type(value) in _SHARED:
        return value
    # Subclasses of dict and list are stored as the plain type.
    if isinstance(value, dict):
        return _copy_dict(value)
    if isinstance(value, list):
        return _copy_list(value)
    # Not a message value (never stored), but Msg.copy() must stay independent.
    return copy.deepcopy(value)


# -- checking and copying in one walk -------------------------------------------


class _Refused(Exception):
    """Raised inside :func:`checked_copy` at the first value refused; the caller explains it."""


def checked_copy(value: object) -> tuple[object, int] | None:
    """Return ``(copy, bound)`` of a message value in one walk, or ``None`` if it is refused.

    Accepts exactly what :func:`json_bound` accepts, with the same bound;
    the copy is what :func:`copy_value` makes, except that subclasses of the
    JSON types (a str enum, an ``OrderedDict``) are copied as their base
    type, as every other store keeps them. For the in-process store, which
    keeps the values as they are: checking them in one walk and copying them
    in another cost about a third more (100 agent-shaped messages). Call
    :func:`check_value` to explain a refusal.

    Args:
        value: A message's ``content`` blocks or ``metadata``.
    """
    try:
        kind = type(value)
        if kind is list:
            return _checked_list(value, 1)  # type: ignore[arg-type]
        if kind is dict:
            return _checked_dict(value, 1)  # type: ignore[arg-type]
        return _checked_other(value, 1)
    except _Refused:
        return None


# _checked_dict and _checked_list copy a container with one C call (dict(),
# list()) and then walk it: an exact str, bool, None, int or float child is
# checked and bounded in the loop, a container child is copied by a call and
# put in place of the original, and any other child goes to _checked_other.
# The bounds are _bound_dict's and _bound_list's, term for term.


def _checked_dict(node: dict[Any, object], depth: int) -> tuple[dict[Any, object], int]:
    if depth >= MAX_JSON_DEPTH and node:
        raise _Refused
    copied = dict(node)
    # Every key at once: join refuses a key that is no str, and the joined
    # text is as ASCII, as UTF-8 and as long as the keys are. A surrogate
    # pair split between two keys stays two surrogates, refused as each is.
    try:
        keys = "".join(node)
    except TypeError:
        raise _Refused from None
    if not keys.isascii() and not _utf8(keys):
        raise _Refused
    # Each entry: the key's bound, then ": " and ", " (json.dumps's
    # separators, which check_size measures); its value is bounded below.
    total = 2 + 6 * len(keys) + 6 * len(node)
    depth += 1
    for key, child in node.items():
        kind = type(child)
        if kind is str:
            if not child.isascii() and not _utf8(child):  # type: ignore[attr-defined,arg-type]
                raise _Refused
            total += 6 * len(child) + 2  # type: ignore[arg-type]
            continue
        if kind is dict:
            copied[key], size = _checked_dict(child, depth)  # type: ignore[arg-type]
        elif kind is list:
            copied[key], size = _checked_list(child, depth)  # type: ignore[arg-type]
        elif kind is bool or child is None:
            size = _SCALAR_BOUND
        elif kind is int:
            if not MIN_INT <= child <= MAX_INT:  # type: ignore[operator]
                raise _Refused
            size = _SCALAR_BOUND
        elif kind is float:
            if not math.isfinite(child):  # type: ignore[arg-type]
                raise _Refused
            size = _SCALAR_BOUND
        else:
            copied[key], size = _checked_other(child, depth)
        total += size
    return copied, total


def _checked_list(node: list[object], depth: int) -> tuple[list[object], int]:
    if depth >= MAX_JSON_DEPTH and node:
        raise _Refused
    copied = list(node)
    total = 2 + 2 * len(node)
    depth += 1
    for index, child in enumerate(node):
        kind = type(child)
        if kind is str:
            if not child.isascii() and not _utf8(child):  # type: ignore[attr-defined,arg-type]
                raise _Refused
            total += 6 * len(child) + 2  # type: ignore[arg-type]
        elif kind is dict:
            copied[index], size = _checked_dict(child, depth)  # type: ignore[arg-type]
            total += size
        elif kind is list:
            copied[index], size = _checked_list(child, depth)  # type: ignore[arg-type]
            total += size
        elif kind is bool or child is None:
            total += _SCALAR_BOUND
        elif kind is int:
            if not MIN_INT <= child <= MAX_INT:  # type: ignore[operator]
                raise _Refused
            total += _SCALAR_BOUND
        elif kind is float:
            if not math.isfinite(child):  # type: ignore[arg-type]
                raise _Refused
            total += _SCALAR_BOUND
        else:
            copied[index], size = _checked_other(child, depth)
            total += size
    return copied, total


def _checked_other(node: object, depth: int) -> tuple[object, int]:
    """Check and copy a value of any type but an exact ``dict`` or ``list``, as ``_bound`` does."""
    kind = type(node)
    if kind is str or kind is int or kind is float or kind is bool or node is None:
        size = _bound(node, depth)
        if size < 0:
            raise _Refused
        return node, size
    # Subclasses are copied as their base type.
    base = _as_base_type(node)
    if base is None:
        raise _Refused
    if type(base) is dict:
        return _checked_dict(base, depth)
    if type(base) is list:
        return _checked_list(base, depth)
    return _checked_other(base, depth)
