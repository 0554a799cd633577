"""The value policy: what a message may hold, refused by name, copied cheaply."""

from __future__ import annotations

import datetime
import decimal
import enum
import json
from collections import OrderedDict
from typing import Any

import pytest

from memmark.core import MessageTooLargeError
from memmark.core.values import (
    MAX_INT,
    MAX_JSON_DEPTH,
    MIN_INT,
    check_value,
    copy_value,
    json_bound,
)


class Colour(str, enum.Enum):
    RED = "red"


AGENT_METADATA: dict[str, Any] = {
    "usage": {"input_tokens": 1234, "output_tokens": 56, "time": 1.25},
    "model": "gpt-x",
    "ok": True,
    "nothing": None,
    "ids": [MIN_INT, MAX_INT, -0.0, 1e300],
    "text": "naïve ☃ 𝄞",
}

REFUSED: list[tuple[Any, str]] = [
    ({1: "int key"}, "key 1 is a int"),
    ({None: 1}, "key None"),
    ({(1, 2): 1}, r"key \(1, 2\) is a tuple"),
    ({"a": float("nan")}, r"\['a'\]: nan is not a JSON number"),
    ({"a": float("inf")}, "inf is not a JSON number"),
    ({"a": -float("inf")}, "-inf is not a JSON number"),
    ({"a": MAX_INT + 1}, "outside the 64-bit range"),
    ({"a": MIN_INT - 1}, "outside the 64-bit range"),
    ({"a": [1, (2, 3)]}, r"\['a'\]\[1\]: a tuple is not a JSON value"),
    ({"a": {1, 2}}, "a set is not"),
    ({"a": b"x"}, "a bytes is not"),
    ({"a": bytearray(b"x")}, "a bytearray is not"),
    ({"a": 1 + 2j}, "a complex is not"),
    ({"a": object()}, "a object is not"),
    ({"a": decimal.Decimal("1.5")}, "a Decimal is not"),
    ({"a": datetime.datetime(2026, 1, 1)}, "a datetime is not"),
    ({"a": "\ud800"}, "lone surrogate"),
    ({"\udc00": 1}, "lone surrogate"),
]


def test_every_json_value_in_range_passes_and_its_bound_covers_its_encoding() -> None:
    bound = check_value(AGENT_METADATA, "metadata")
    assert bound >= len(json.dumps(AGENT_METADATA, ensure_ascii=False).encode())


def test_subclasses_of_json_types_pass_as_their_base_type() -> None:
    value = OrderedDict(colour=Colour.RED, flag=True)
    assert json_bound(value) is not None


@pytest.mark.parametrize(("value", "reason"), REFUSED)
def test_each_value_json_cannot_hold_is_refused_with_its_path(value: Any, reason: str) -> None:
    assert json_bound(value) is None
    with pytest.raises(ValueError, match=reason) as caught:
        check_value(value, "memories[0]: message 'm1' metadata")
    assert str(caught.value).startswith("memories[0]: message 'm1' metadata")


def test_nesting_deeper_than_the_limit_is_too_large_and_a_hostile_depth_is_safe() -> None:
    ok: list[Any] = []
    node = ok
    for _ in range(MAX_JSON_DEPTH - 1):
        node.append([])
        node = node[0]
    assert json_bound(ok) is not None
    node.append([1])
    with pytest.raises(MessageTooLargeError, match="nests deeper"):
        check_value(ok, "content")

    hostile: list[Any] = []
    node = hostile
    for _ in range(100_000):
        node.append([])
        node = node[0]
    with pytest.raises(MessageTooLargeError):
        check_value(hostile, "content")


def test_a_copy_shares_no_container_with_the_original() -> None:
    blocks = [
        {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": [1, {"b": 2}]}},
        {"type": "text", "text": "x"},
    ]
    copied = copy_value(blocks)
    assert copied == blocks
    blocks[0]["input"]["a"][1]["b"] = 3  # type: ignore[index]
    blocks[0]["input"]["a"].append(4)  # type: ignore[index]
    blocks.append({"type": "text", "text": "later"})
    assert copied == [
        {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": [1, {"b": 2}]}},
        {"type": "text", "text": "x"},
    ]
