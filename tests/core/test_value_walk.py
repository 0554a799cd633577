"""The fast value walks decide exactly as the definition does, on random values.

``json_bound``, ``copy_value`` and ``checked_copy`` (both at once) unroll
the exact JSON types for speed; ``values._bound`` is the plain recursive
definition they must agree with,
and a message's UTF-8 JSON size (what ``max_message_bytes`` limits) is
measured exactly here to check that the bound really bounds it and that
``add`` accepts and refuses exactly as an exact measure would.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memmark.core import MessageTooLargeError, Msg
from memmark.core.checks import check_message, check_messages
from memmark.core.values import (
    MAX_INT,
    MAX_JSON_DEPTH,
    MIN_INT,
    _bound,
    _utf8,
    checked_copy,
    copy_value,
    json_bound,
    why_refused,
)

_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(max_codepoint=0x7F),  # ASCII, control characters included
        st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF),  # lone surrogates too
        st.sampled_from(["\x00", '"', "\\", "\u2028", "\ud800", "\U0001d11e"]),
    ),
    max_size=12,
)

_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=MIN_INT - 2, max_value=MAX_INT + 2),
    st.sampled_from([MIN_INT, MAX_INT, MIN_INT - 1, MAX_INT + 1, 2**70]),
    st.floats(allow_nan=True, allow_infinity=True),
    _TEXT,
    # Never message values: each must be refused wherever it sits.
    st.sampled_from([(), (1,), b"x", frozenset(), 1j, object]),
)

_KEYS = st.one_of(_TEXT, st.sampled_from([1, None, True, 1.5, ("t",)]))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(_KEYS, children, max_size=4),
        st.dictionaries(_TEXT, children, max_size=3).map(OrderedDict),
        st.lists(children, max_size=3).map(tuple),
    )


VALUES = st.recursive(_LEAVES, _containers, max_leaves=30)


def _nest(value: Any, levels: int) -> Any:
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


DEEP = st.builds(_nest, VALUES, st.integers(min_value=MAX_JSON_DEPTH - 3, max_value=MAX_JSON_DEPTH))


def _exact_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())


@settings(max_examples=600, deadline=None)
@given(st.one_of(VALUES, DEEP, st.dictionaries(_KEYS, VALUES, max_size=4)))
def test_the_fast_walk_refuses_exactly_what_the_definition_refuses(value: Any) -> None:
    bound = json_bound(value)
    assert (bound is None) == (_bound(value, 1) < 0)
    assert (bound is None) == (why_refused(value, "v") is not None)
    if bound is not None:
        assert bound >= _exact_size(value)
        copied = copy_value(value)
        assert copied == value
        assert _exact_size(copied) == _exact_size(value)


def _blocks(value: Any) -> list[dict[str, Any]]:
    return [{"type": "data", "value": value}]


@settings(max_examples=400, deadline=None)
@given(
    VALUES,
    st.one_of(st.none(), st.dictionaries(_KEYS, VALUES, max_size=3)),
    st.lists(st.text(max_size=3).filter(lambda t: t.isascii()), min_size=3, max_size=3),
    st.data(),
)
def test_add_accepts_and_refuses_as_an_exact_measure_would(
    content: Any, metadata: Any, short: list[str], data: st.DataObject
) -> None:
    # Short ids, names and stamps leave the bound little slack from the fields.
    msg = Msg(short[0], _blocks(content), "assistant", timestamp=short[1])
    msg.id = short[2]
    msg.metadata = metadata
    refused = why_refused(_blocks(content), "c") is not None or (
        metadata is not None and why_refused(metadata, "m") is not None
    )
    if refused:
        try:
            check_message(msg, "m", None)
        except ValueError:  # MessageTooLargeError (too deep) included
            return
        raise AssertionError("a value the definition refuses was accepted")
    exact = len(json.dumps(msg.to_dict(), ensure_ascii=False).encode())
    # Limits around the exact size, where a loose bound would decide wrongly.
    limit = data.draw(st.integers(min_value=max(0, exact - 3), max_value=exact + 3))
    try:
        check_message(msg, "m", limit)
    except MessageTooLargeError:
        assert exact > limit
    else:
        assert exact <= limit


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=40), st.data())
def test_plain_text_messages_are_measured_as_exactly(text: str, data: st.DataObject) -> None:
    # The quick path of check_messages (plain ASCII text) must bound the
    # escapes too: a control character is 6 bytes of JSON.
    msg = Msg("", text, "user", timestamp="")
    msg.id = ""
    exact = len(json.dumps(msg.to_dict(), ensure_ascii=False).encode())
    limit = data.draw(st.integers(min_value=max(0, exact - 3), max_value=exact + 3))
    try:
        check_messages([msg], limit)
    except MessageTooLargeError:
        assert exact > limit
    else:
        assert exact <= limit


def _containers_in(value: Any) -> list[Any]:
    """Every dict and list in ``value``, itself included."""
    found: list[Any] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            found.append(node)
            stack.extend(node)
    return found


def _only_base_types(value: Any) -> bool:
    if type(value) is dict:
        return all(_only_base_types(child) for child in value.values())
    if type(value) is list:
        return all(_only_base_types(child) for child in value)
    return type(value) in (str, int, float, bool, type(None))


@settings(max_examples=600, deadline=None)
@given(st.one_of(VALUES, DEEP, st.dictionaries(_KEYS, VALUES, max_size=4)))
def test_the_checking_copy_decides_and_bounds_as_the_check_and_copies_as_the_copy(
    value: Any,
) -> None:
    checked = checked_copy(value)
    bound = json_bound(value)
    assert (checked is None) == (bound is None)
    if checked is None:
        return
    copied, copy_bound = checked
    assert copy_bound == bound
    assert copied == value == copy_value(value)
    assert _exact_size(copied) == _exact_size(value)
    assert _only_base_types(copied)
    originals = {id(node) for node in _containers_in(value)}
    assert not any(id(node) in originals for node in _containers_in(copied))


@given(st.text(alphabet=st.characters(min_codepoint=0xD000, max_codepoint=0xE000), max_size=8))
def test_the_surrogate_test_refuses_exactly_what_utf8_refuses(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        assert not _utf8(text)
    else:
        assert _utf8(text)


def test_the_surrogate_test_agrees_with_utf8_on_every_code_point() -> None:
    for code in range(0x110000):
        assert _utf8(chr(code)) == (not 0xD800 <= code <= 0xDFFF)


def _outcome(call: Any) -> Any:
    try:
        return call()
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)


@settings(max_examples=400, deadline=None)
@given(
    VALUES,
    st.one_of(st.none(), st.dictionaries(_KEYS, VALUES, max_size=3), VALUES),
    st.one_of(st.none(), st.integers(min_value=0, max_value=400)),
)
def test_checking_with_copies_raises_and_passes_as_checking_alone(
    content: Any, metadata: Any, limit: int | None
) -> None:
    msg = Msg("n", _blocks(content), "assistant", timestamp="t")
    msg.id = "m"
    msg.metadata = metadata
    plain = Msg("n", "plain text", "user", timestamp="t")
    alone = _outcome(lambda: check_messages([plain, msg], limit))
    copied = _outcome(lambda: check_messages([plain, msg], limit, copy=True))
    if type(alone) is tuple:
        assert copied == alone
        return
    assert [m.to_dict() for m in copied] == [plain.to_dict(), msg.to_dict()]
    assert all(type(m) is Msg for m in copied)
    assert copied[0] is not plain
    assert copied[1] is not msg


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.lists(_TEXT, min_size=4, max_size=4), st.booleans(), st.booleans(), st.data())
def test_text_fields_are_refused_and_measured_exactly_with_or_without_copies(
    texts: list[str], with_invocation: bool, copy: bool, data: st.DataObject
) -> None:
    msg = Msg("n", texts[3], "user")
    msg.id, msg.name, msg.timestamp = texts[:3]
    if with_invocation:
        msg.invocation_id = texts[3]
    if not all(_encodes(text) for text in texts):
        with pytest.raises(ValueError, match="lone surrogate"):
            check_messages([msg], None, copy=copy)
        return
    exact = len(json.dumps(msg.to_dict(), ensure_ascii=False).encode())
    limit = data.draw(st.integers(min_value=max(0, exact - 3), max_value=exact + 3))
    try:
        check_messages([msg], limit, copy=copy)
    except MessageTooLargeError:
        assert exact > limit
    else:
        assert exact <= limit
