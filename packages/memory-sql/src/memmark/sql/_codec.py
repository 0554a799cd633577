"""Messages and summaries to JSON text and back, as the JSON columns hold them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from operator import itemgetter
from typing import Any, cast

import orjson

from memmark.core import Msg

# The stdlib's encoder, built once (json.dumps with options builds one per
# call), for what orjson refuses: integers beyond 64 bits, non-str keys, lone
# surrogates.
_std_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_new = object.__new__


def dumps(value: Any) -> str:
    """Return ``value`` as compact JSON text.

    orjson writes the same text as the stdlib's compact encoder, several
    times faster; it differs only on NaN and infinities, which it writes as
    null (JSON has no such numbers; PostgreSQL and MariaDB refuse the
    stdlib's).
    """
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return _std_dumps(value)


def loads(text: str) -> Any:
    """Return the value of one JSON text."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # what the stdlib wrote (NaN, lone surrogates)


def loads_many(texts: list[str]) -> list[Any]:
    """Decode many JSON texts in one call: one array costs less than a loop."""
    try:
        return cast("list[Any]", orjson.loads("[" + ",".join(texts) + "]"))
    except orjson.JSONDecodeError:
        return [loads(text) for text in texts]


def decode(body: Any, decoded: bool) -> Any:
    """Return the value of a JSON column; ``decoded`` when the driver decoded it already."""
    return body if decoded else loads(body)


def decode_messages(bodies: list[str]) -> list[Msg]:
    """Return the messages of their stored JSON texts, decoded in one call."""
    return to_msgs(loads_many(bodies))


def to_msgs(dicts: Iterable[dict[str, Any]]) -> list[Msg]:
    """Return the messages of ``Msg.to_dict()`` forms read back from the store."""
    # The rows are Msg.to_dict() of valid messages, written by this package,
    # so the checks of Msg.from_dict would only repeat what held when they
    # were stored; setting the slots directly keeps long reads cheap.
    out: list[Msg] = []
    append = out.append
    for data in dicts:
        msg = _new(Msg)
        msg.id = data["id"]
        msg.name = data["name"]
        msg.role = data["role"]
        msg.content = data["content"]
        msg.metadata = data["metadata"]
        msg.timestamp = data["timestamp"]
        msg.invocation_id = data.get("invocation_id")
        append(msg)
    return out


def decode_read(rows: list[Any], with_summary: bool) -> tuple[list[Msg], str | None]:
    """The messages of ``get_memory`` rows (JSON text), and the summary when read."""
    summary: str | None = None
    if with_summary:
        summary = ""
        if rows and rows[0][1] == 0:
            summary = loads(rows[0][0])
            rows = rows[1:]
    return decode_messages([body for body, _ in rows]), summary


def decode_export(
    rows: list[Any], json_decoded: bool
) -> tuple[list[tuple[dict[str, Any], list[str]]], str, str | None]:
    """Every message as (its ``to_dict()``, its marks), in order, the summary and the state.

    The state slot's JSON text is in the session row's ``mark`` column (seq 0).
    """
    rows.sort(key=itemgetter(0))
    content: list[tuple[dict[str, Any], list[str]]] = []
    summary = ""
    state: str | None = None
    last_seq = None
    for seq, body, mark in rows:
        if seq == 0:
            summary = decode(body, json_decoded)
            state = mark
            continue
        if seq != last_seq:
            last_seq = seq
            content.append((Msg.from_dict(decode(body, json_decoded)).to_dict(), []))
        if mark is not None:
            content[-1][1].append(mark)
    return content, summary, state
