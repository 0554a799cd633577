"""What the scripts store: message payloads, marks and text, as bytes.

* A **payload** is a message's ``to_dict()`` values as a msgpack array, in
  the contract's key order (id, name, role, content, metadata, timestamp,
  invocation_id). Without the key strings a long read decodes about 2.5
  times faster than a msgpack map. The Lua side reads the id (the first
  element) straight from these bytes, so the order is part of the format.
* An **encoded mark** is ``<byte length>:<mark>``: a length prefix makes the
  encoding prefix-free, so no mark's range in the mark index can hold
  another mark's entries. A message's **marks blob** is its encoded marks
  joined.
* A **mark index entry** is an encoded mark, the message's sequence number
  as 16 digits, then its payload.
* Text (ids, marks, the summary) is UTF-8 with ``surrogatepass``, which keeps
  every Python ``str`` encodable and the encoding injective.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgpack  # type: ignore[import-untyped]

from memmark.core import Msg

SEQ_DIGITS = 16
"""The width of a sequence number inside a mark index entry."""

_DICT_KEYS = ("id", "name", "role", "content", "metadata", "timestamp")
_new_msg = object.__new__


def encode_text(text: str) -> bytes:
    """Return ``text`` as the bytes the store keeps."""
    return text.encode("utf-8", "surrogatepass")


def decode_text(raw: bytes) -> str:
    """Return the ``str`` that :func:`encode_text` made ``raw`` from."""
    return raw.decode("utf-8", "surrogatepass")


def pack_message(msg: Msg) -> bytes:
    """Return the payload of ``msg``."""
    # A fresh packer per call (msgpack.packb): a shared one is not thread-safe.
    fields = [msg.id, msg.name, msg.role, msg.content, msg.metadata, msg.timestamp]
    fields.append(msg.invocation_id)
    packed: bytes = msgpack.packb(fields, use_bin_type=True)
    return packed


def unpack_fields(payloads: list[bytes]) -> list[list[Any]]:
    """Return the field lists of ``payloads``, decoded in one call."""
    # An array header in front of the payloads makes one C call of them all;
    # joining header and payloads at once copies the bytes only once.
    parts = [b"\xdd" + len(payloads).to_bytes(4, "big")]
    parts += payloads
    fields: list[list[Any]] = msgpack.unpackb(b"".join(parts), raw=False, strict_map_key=False)
    return fields


def unpack_messages(payloads: list[bytes]) -> list[Msg]:
    """Return the messages of ``payloads``, in the same order."""
    # The payloads are what this package wrote from valid messages, so the
    # checks of Msg.from_dict would only repeat what held when they were
    # stored; setting the slots directly keeps long reads cheap.
    messages: list[Msg] = []
    append = messages.append
    new = _new_msg
    for msg_id, name, role, content, metadata, timestamp, invocation_id in unpack_fields(payloads):
        message = new(Msg)
        message.id = msg_id
        message.name = name
        message.role = role
        message.content = content
        message.metadata = metadata
        message.timestamp = timestamp
        message.invocation_id = invocation_id
        append(message)
    return messages


def message_dict(fields: list[Any]) -> dict[str, Any]:
    """Return the ``Msg.to_dict()`` form of one payload's fields."""
    message = dict(zip(_DICT_KEYS, fields[:6], strict=True))
    if fields[6] is not None:
        message["invocation_id"] = fields[6]
    return message


def index_entry_head(mark: bytes) -> int:
    """Return how many bytes of an entry of ``mark`` (encoded text) come before its payload."""
    return len(b"%d:" % len(mark)) + len(mark) + SEQ_DIGITS


def encode_marks(marks: Iterable[str]) -> bytes:
    """Return the marks blob of ``marks``."""
    parts = []
    for mark in marks:
        raw = encode_text(mark)
        parts.append(b"%d:%s" % (len(raw), raw))
    return b"".join(parts)


def decode_marks(blob: bytes | None) -> list[str]:
    """Return the marks of a marks blob (none for ``None``)."""
    marks: list[str] = []
    if not blob:
        return marks
    position = 0
    while position < len(blob):
        colon = blob.index(b":", position)
        stop = colon + 1 + int(blob[position:colon])
        marks.append(decode_text(blob[colon + 1 : stop]))
        position = stop
    return marks
