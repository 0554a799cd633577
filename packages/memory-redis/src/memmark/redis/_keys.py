"""Where a session lives: its nine keys, all under one Redis Cluster hash tag.

Every key is ``<key_prefix>{<tag>}<suffix>``. The suffix bytes are part of
the stored format (sessions written before must still be found), so they
are named here once; the scripts only ever see the keys in ``KEYS``, in the
order of :class:`SessionKeys`.
"""

from __future__ import annotations

import base64
import re
from typing import NamedTuple

from memmark.redis._codec import decode_text, encode_text

SUMMARY_SUFFIX = b":s"
"""A string: the compressed summary."""
ORDER_SUFFIX = b":o"
"""A sorted set: score = the message's sequence number, member = its payload."""
IDS_SUFFIX = b":i"
"""A sorted set: score = the message's sequence number, member = its id."""
MARKS_SUFFIX = b":x"
"""A hash: message id -> its marks, each written ``<byte length>:<mark>``."""
MARK_INDEX_SUFFIX = b":k"
"""A sorted set, all scores 0: ``<byte length>:<mark>`` + 16-digit seq + payload."""
VERSION_SUFFIX = b":v"
"""A string: a counter every write run moves on by one (absent in sessions
written before versions existed, until their next write)."""
UPDATED_SUFFIX = b":u"
"""A string: the server's time of the session's last write run, in
microseconds (what a listing of sessions sorts by; absent like the version)."""
STATE_SUFFIX = b":j"
"""A string: the session state slot, the JSON text the client encoded
(absent while unset)."""
BATCHES_SUFFIX = b":b"
"""A set: the ids of the batches applied to the session, so that a batch
sent again applies nothing (absent until a batch with an id)."""
STAGING_SUFFIX = b":t"
"""Put, with a random token, after a key's own suffix to name its staging copy."""


class SessionKeys(NamedTuple):
    """The keys of one session, in the order the scripts take them as ``KEYS``."""

    summary: bytes
    order: bytes
    ids: bytes
    marks: bytes
    mark_index: bytes
    version: bytes
    updated: bytes
    state: bytes
    batches: bytes


def session_tag(user_id: str, session_id: str) -> bytes:
    """Return the hash tag body of a ``(user_id, session_id)`` pair.

    The pair is length-prefixed (so no split of one id into the other can
    make the same bytes) and then base64url-encoded (so the tag holds no
    ``{`` or ``}``). Both steps are injective, so two pairs never share a tag.
    """
    user = encode_text(user_id)
    raw = b"%d:%s%s" % (len(user), user, encode_text(session_id))
    return base64.urlsafe_b64encode(raw)


def hash_tag(key: bytes) -> bytes:
    """Return the part of ``key`` Redis Cluster hashes to choose its slot."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def session_keys(key_prefix: str, user_id: str, session_id: str) -> SessionKeys:
    """Return the nine keys of a session (see :class:`SessionKeys` for their order).

    Raises:
        ValueError: ``key_prefix`` holds an empty ``{}``, which would make
            Redis Cluster hash whole keys and spread the session over slots.
    """
    base = encode_text(key_prefix) + b"{" + session_tag(user_id, session_id) + b"}"
    keys = SessionKeys(
        summary=base + SUMMARY_SUFFIX,
        order=base + ORDER_SUFFIX,
        ids=base + IDS_SUFFIX,
        marks=base + MARKS_SUFFIX,
        mark_index=base + MARK_INDEX_SUFFIX,
        version=base + VERSION_SUFFIX,
        updated=base + UPDATED_SUFFIX,
        state=base + STATE_SUFFIX,
        batches=base + BATCHES_SUFFIX,
    )
    if len({hash_tag(k) for k in keys}) != 1:
        raise ValueError(
            f"key_prefix: {key_prefix!r} holds an empty hash tag '{{}}', which would "
            "spread one session over several cluster slots"
        )
    return keys


def staging_keys(keys: SessionKeys, token: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """Return the staging copies of ``keys``' order, ids, marks and mark index.

    They share the session's hash tag, so a big import can be written there
    over several runs and swapped in by one.
    """
    suffix = STAGING_SUFFIX + token
    return (
        keys.order + suffix,
        keys.ids + suffix,
        keys.marks + suffix,
        keys.mark_index + suffix,
    )


def glob_escape(raw: bytes) -> bytes:
    """Return ``raw`` with every byte a ``SCAN MATCH`` pattern treats specially escaped."""
    return re.sub(rb"([*?\[\]\\])", rb"\\\1", raw)


def version_key_pattern(key_prefix: str) -> bytes:
    """Return the ``SCAN MATCH`` pattern of every session's version key under ``key_prefix``.

    It may match keys of another prefix that starts with this one and holds
    braces; :func:`session_of` tells them apart.
    """
    return glob_escape(encode_text(key_prefix)) + b"{*}" + VERSION_SUFFIX


def session_of(key_prefix: str, key: bytes) -> tuple[str, str] | None:
    """Return the ``(user_id, session_id)`` whose version key is ``key``, if it is one.

    The hash tag is decoded back (see :func:`session_tag`); a key that is
    not exactly what :func:`session_keys` makes for the pair it decodes to
    (another prefix, a stray key) gives ``None``.
    """
    head = encode_text(key_prefix) + b"{"
    tail = b"}" + VERSION_SUFFIX
    if not (key.startswith(head) and key.endswith(tail)):
        return None
    tag = key[len(head) : len(key) - len(tail)]
    try:
        raw = base64.urlsafe_b64decode(tag)
        length, _, rest = raw.partition(b":")
        size = int(length)
        if not 0 <= size <= len(rest) or not length.isdigit():
            return None
        user_id, session_id = decode_text(rest[:size]), decode_text(rest[size:])
    except ValueError:  # not base64, not a length, not UTF-8 (all ValueErrors)
        return None
    if session_keys(key_prefix, user_id, session_id).version != key:
        return None
    return user_id, session_id
