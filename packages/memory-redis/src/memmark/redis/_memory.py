"""``RedisMemory``: every operation one atomic Lua script, one round trip."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Iterator
from typing import Any, cast

import msgpack  # type: ignore[import-untyped]
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from memmark.core import DuplicateMessageError, Msg, StateContent, StoreBackedMemory
from memmark.redis._scripts import Script, scripts

# How much one script run may do. Each run is atomic; a call that needs more
# is cut into several runs (see the package README on what that means).
ADD_BUDGET = 2000  # messages x (1 + marks) written per run
ADD_BYTES = 8 << 20  # payload bytes per run, so huge messages go a few at a time
DELETE_BUDGET = 2000  # ids per run
DELETE_BY_MARK_BUDGET = 1000  # messages removed per run
UPDATE_BUDGET = 2000  # messages re-marked per run
READ_BUDGET = 5000  # messages examined per run of get_memory
EXPORT_BUDGET = 5000  # messages per run of export_state
IMPORT_BUDGET = 2000  # messages per run of import_state

_SUFFIXES = (b":s", b":o", b":i", b":x", b":k")
_NO = b""
_ALL = b"-1"
_ZERO = b"0"
_ONE = b"1"

_new_msg = object.__new__


def _enc(text: str) -> bytes:
    # surrogatepass keeps every Python str encodable, and the encoding injective.
    return text.encode("utf-8", "surrogatepass")


def _dec(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


def session_tag(user_id: str, session_id: str) -> bytes:
    """Return the hash tag body of a ``(user_id, session_id)`` pair.

    The pair is length-prefixed (so no split of one id into the other can
    make the same bytes) and then base64url-encoded (so the tag holds no
    ``{`` or ``}``). Both steps are injective, so two pairs never share a tag.
    """
    user = _enc(user_id)
    raw = b"%d:%s%s" % (len(user), user, _enc(session_id))
    return base64.urlsafe_b64encode(raw)


def hash_tag(key: bytes) -> bytes:
    """Return the part of ``key`` Redis Cluster hashes to choose its slot."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def session_keys(key_prefix: str, user_id: str, session_id: str) -> tuple[bytes, ...]:
    """Return the five keys of a session: summary, order, ids, marks of id, mark index.

    Raises:
        ValueError: ``key_prefix`` holds an empty ``{}``, which would make
            Redis Cluster hash whole keys and spread the session over slots.
    """
    base = _enc(key_prefix) + b"{" + session_tag(user_id, session_id) + b"}"
    keys = tuple(base + suffix for suffix in _SUFFIXES)
    if len({hash_tag(k) for k in keys}) != 1:
        raise ValueError(
            f"key_prefix: {key_prefix!r} holds an empty hash tag '{{}}', which would "
            "spread one session over several cluster slots"
        )
    return keys


def _pack(msg: Msg) -> bytes:
    """Return the stored form of ``msg``: its ``to_dict()`` values as a msgpack array.

    The array keeps the contract's key order (id, name, role, content,
    metadata, timestamp, invocation_id). Without the six key strings per
    message a long read decodes about 2.5 times faster than a msgpack map.
    """
    fields = [msg.id, msg.name, msg.role, msg.content, msg.metadata, msg.timestamp]
    return _packb([*fields, msg.invocation_id])


def _packb(obj: Any) -> bytes:
    # A fresh packer per call (msgpack.packb): a shared one is not thread-safe.
    return cast("bytes", msgpack.packb(obj, use_bin_type=True))


def _unpack(payloads: list[bytes]) -> list[list[Any]]:
    # An array header in front of the payloads makes one C call of them all;
    # joining header and payloads at once copies the bytes only once.
    parts = [b"\xdd" + len(payloads).to_bytes(4, "big")]
    parts += payloads
    return cast(
        "list[list[Any]]", msgpack.unpackb(b"".join(parts), raw=False, strict_map_key=False)
    )


def _to_msgs(payloads: list[bytes]) -> list[Msg]:
    # The payloads are what this class wrote from valid messages, so the
    # checks of Msg.from_dict would only repeat what held when they were
    # stored; setting the slots directly keeps long reads cheap.
    out: list[Msg] = []
    append = out.append
    new = _new_msg
    for m_id, name, role, content, metadata, timestamp, invocation_id in _unpack(payloads):
        m = new(Msg)
        m.id = m_id
        m.name = name
        m.role = role
        m.content = content
        m.metadata = metadata
        m.timestamp = timestamp
        m.invocation_id = invocation_id
        append(m)
    return out


def _to_dict(fields: list[Any]) -> dict[str, Any]:
    d = dict(zip(_DICT_KEYS, fields[:6], strict=True))
    if fields[6] is not None:
        d["invocation_id"] = fields[6]
    return d


_DICT_KEYS = ("id", "name", "role", "content", "metadata", "timestamp")


def _marks_blob(marks: Iterable[str]) -> bytes:
    parts = []
    for mark in marks:
        raw = _enc(mark)
        parts.append(b"%d:%s" % (len(raw), raw))
    return b"".join(parts)


def _split_blob(blob: bytes | None) -> list[str]:
    marks: list[str] = []
    if not blob:
        return marks
    pos = 0
    while pos < len(blob):
        colon = blob.index(b":", pos)
        stop = colon + 1 + int(blob[pos:colon])
        marks.append(_dec(blob[colon + 1 : stop]))
        pos = stop
    return marks


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RedisMemory(StoreBackedMemory):
    """A memory kept in Redis, shared by every handle on the same session.

    Each call is one ``EVALSHA`` of a script from ``lua/``: atomic, and one
    round trip. The session lives in five keys under one hash tag, so the
    scripts also run on Redis Cluster. See the package README for the key
    layout and what happens to calls too big for one script run.

    Args:
        session_id: The session; any string.
        user_id: The user; any string.
        host: Redis host, when neither ``client``, ``url`` nor
            ``connection_pool`` is given.
        port: Redis port, likewise.
        db: Redis database number, likewise.
        password: Redis password, likewise.
        connection_pool: A ``redis.asyncio.ConnectionPool`` to use (decoding
            responses or not; payloads stay bytes either way). The memory
            makes a client on it and never disconnects the pool.
        key_prefix: Put in front of every key, e.g. ``"myapp:"``.
        key_ttl: Seconds of inactivity after which the session's keys
            expire; every call slides the expiry of all of them. ``None``:
            the keys never expire (a call removes an expiry set before).
        client: An existing ``redis.asyncio.Redis`` or ``RedisCluster``,
            used as is and never closed by the memory.
        url: A ``redis://`` URL to connect to.
        **client_kwargs: Passed to ``redis.asyncio.Redis`` when the memory
            makes its own client.

    Raises:
        ValueError: More than one of ``client``, ``url``, ``connection_pool``
            is given, ``key_ttl`` is not positive, or ``key_prefix`` holds an
            empty ``{}``.
    """

    def __init__(
        self,
        session_id: str = "default_session",
        user_id: str = "default_user",
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        password: str | None = None,
        connection_pool: aioredis.ConnectionPool | None = None,
        key_prefix: str = "",
        key_ttl: float | None = None,
        *,
        client: aioredis.Redis | aioredis.RedisCluster | None = None,
        url: str | None = None,
        **client_kwargs: Any,
    ) -> None:
        super().__init__(session_id, user_id)
        if not isinstance(key_prefix, str):
            raise TypeError(f"key_prefix: expected a str, got {type(key_prefix).__name__}")
        given = [
            n
            for n, v in (("client", client), ("url", url), ("connection_pool", connection_pool))
            if v is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give at most one of client, url, connection_pool; got {given}")
        self.key_prefix = key_prefix
        self._keys = session_keys(key_prefix, user_id, session_id)
        self._ttl_arg = _ZERO
        self.key_ttl = key_ttl
        self._scripts = scripts()

        self._owns_client = client is None
        if client is not None:
            self._client: Any = client
        elif url is not None:
            self._client = aioredis.Redis.from_url(url, **client_kwargs)
        elif connection_pool is not None:
            self._client = aioredis.Redis(connection_pool=connection_pool, **client_kwargs)
        else:
            self._client = aioredis.Redis(
                host=host, port=port, db=db, password=password, **client_kwargs
            )
        self._closed = False
        # redis-py's asyncio RedisCluster can fail when its very first commands
        # run concurrently (a node connection is used before it is open);
        # initialising once, under its own lock, before the first script avoids it.
        self._cluster_pending = isinstance(self._client, aioredis.RedisCluster)

    # -- settings -------------------------------------------------------------

    @property
    def key_ttl(self) -> float | None:
        """Seconds after the last call at which the session's keys expire, or ``None``.

        May be changed at any time; the next call applies it to every key.
        """
        return self._key_ttl

    @key_ttl.setter
    def key_ttl(self, value: float | None) -> None:
        if value is None:
            self._key_ttl: float | None = None
            self._ttl_arg = _ZERO
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(
                f"key_ttl: expected seconds as a number or None, got {type(value).__name__}"
            )
        ms = int(value * 1000)
        if ms <= 0:
            raise ValueError(f"key_ttl: must be at least 0.001 seconds, got {value!r}")
        self._key_ttl = value
        self._ttl_arg = b"%d" % ms

    def get_client(self) -> Any:
        """Return the ``redis.asyncio`` client the memory talks through."""
        return self._client

    @property
    def keys(self) -> tuple[bytes, ...]:
        """The session's keys: summary, order, ids, marks of each id, mark index."""
        return self._keys

    async def close(self) -> None:
        """Close the client if the memory made it; a client or pool passed in stays open."""
        if self._owns_client and not self._closed:
            self._closed = True
            await self._client.aclose()

    async def _run(self, name: str, args: list[Any], keys: tuple[bytes, ...] | None = None) -> Any:
        script: Script = self._scripts[name]
        if self._cluster_pending:
            await self._client.initialize()
            self._cluster_pending = False
        keys = self._keys if keys is None else keys
        try:
            return await script.run(self._client, keys, args)
        except RedisConnectionError:
            pool = getattr(self._client, "connection_pool", None)
            if pool is None:
                raise  # a cluster client re-routes and reconnects on its own
            # The client gave up on a connection the server closed (a restart,
            # a fail-over). Every script is idempotent, so after dropping the
            # pool's idle connections the call runs once more on a new one.
            await pool.disconnect(inuse_connections=False)
            return await script.run(self._client, keys, args)

    # -- writes ---------------------------------------------------------------

    async def _add(self, msgs: list[Msg], marks: list[str], skip_duplicated: bool) -> None:
        """Append messages with their marks; see :meth:`MemoryBase.add`.

        Raises:
            DuplicateMessageError: ``skip_duplicated`` is false and an id is
                already stored; nothing is written.
        """
        mark_list = [_enc(m) for m in marks]
        head = [self._ttl_arg, _ZERO, b"%d" % len(mark_list), *mark_list]
        body: list[bytes] = []
        for m in msgs:
            body.append(_enc(m.id))
            body.append(_pack(m))
        if len(msgs) * (1 + len(mark_list)) <= ADD_BUDGET and sum(map(len, body)) <= ADD_BYTES:
            if not skip_duplicated:
                head[1] = _ONE
            taken = await self._run("add", head + body)
            if isinstance(taken, list) and taken:
                raise DuplicateMessageError([_dec(t) for t in taken])
            return
        chunks = list(self._add_chunks(body, len(mark_list)))
        if not skip_duplicated:
            # Too big for one run: check every chunk first, then write. Each
            # run is atomic, the whole call is not (see the README).
            taken_all: list[str] = []
            for chunk in chunks:
                head[1] = b"2"
                taken = await self._run("add", head + chunk)
                taken_all += [_dec(t) for t in taken]
            if taken_all:
                raise DuplicateMessageError(taken_all)
        head[1] = _ZERO
        for chunk in chunks:
            await self._run("add", head + chunk)

    @staticmethod
    def _add_chunks(body: list[bytes], n_marks: int) -> Iterator[list[bytes]]:
        per_run = max(1, ADD_BUDGET // (1 + n_marks))
        chunk: list[bytes] = []
        size = 0
        for i in range(0, len(body), 2):
            if chunk and (len(chunk) // 2 >= per_run or size + len(body[i + 1]) > ADD_BYTES):
                yield chunk
                chunk, size = [], 0
            chunk += body[i : i + 2]
            size += len(body[i + 1])
        if chunk:
            yield chunk

    async def _delete(self, ids: list[str]) -> int:
        """Remove messages by id, with their marks; see :meth:`MemoryBase.delete`."""
        removed = 0
        for chunk in _chunks([_enc(i) for i in ids], DELETE_BUDGET):
            removed += await self._run("delete", [self._ttl_arg, *chunk])
        return removed

    async def _delete_by_mark(self, marks: list[str]) -> int:
        """Remove every message carrying any of the marks; see :meth:`MemoryBase.delete_by_mark`."""
        args = [self._ttl_arg, b"%d" % DELETE_BY_MARK_BUDGET, *map(_enc, marks)]
        removed = 0
        while True:
            count, more = await self._run("delete_by_mark", args)
            removed += int(count)
            if not more:
                return removed

    async def _clear(self) -> None:
        """Remove every message and mark; the summary stays."""
        await self._run("clear", [self._ttl_arg])

    async def _update_messages_mark(
        self, new_mark: str | None, old_mark: str | None, msg_ids: list[str] | None
    ) -> int:
        """Re-mark messages; see :meth:`MemoryBase.update_messages_mark`."""
        new = _NO if new_mark is None else _enc(new_mark)
        old = _NO if old_mark is None else _enc(old_mark)
        ids = msg_ids
        budget = b"%d" % UPDATE_BUDGET
        changed = 0
        if ids is not None:
            for chunk in _chunks([_enc(i) for i in ids], UPDATE_BUDGET):
                count, _ = await self._run(
                    "update_marks", [self._ttl_arg, new, old, _ONE, _NO, budget, *chunk]
                )
                changed += int(count)
            return changed
        cursor = _NO
        while True:
            count, cursor = await self._run(
                "update_marks", [self._ttl_arg, new, old, _ZERO, cursor, budget]
            )
            changed += int(count)
            if cursor is None:
                return changed

    async def _update_compressed_summary(self, summary: str) -> None:
        """Store the summary in Redis, for every handle on the session; ``""`` removes it."""
        await self._run("summary", [self._ttl_arg, _enc(summary)])

    # -- reads ----------------------------------------------------------------

    async def _size(self) -> int:
        """Return the number of messages in the session."""
        return cast("int", await self._run("size", [self._ttl_arg]))

    async def _get_memory(
        self, mark: str | None, exclude_mark: str | None, limit: int | None, with_summary: bool
    ) -> tuple[list[Msg], str | None]:
        """Return messages in insertion order, and the summary; see :meth:`MemoryBase.get_memory`.

        The summary is read in the same round trip as the messages.
        """
        args = [
            self._ttl_arg,
            _NO if mark is None else _enc(mark),
            _NO if exclude_mark is None else _enc(exclude_mark),
            _ALL if limit is None else b"%d" % limit,
            _ONE if with_summary else _ZERO,
            _NO,
            b"%d" % READ_BUDGET,
        ]
        summary, cursor, payloads = await self._run("get", args)
        if cursor is not None:
            payloads = await self._read_rest(args, cursor, payloads, limit)
        if not payloads:
            result = []
        elif mark is None:
            result = _to_msgs(payloads)
        else:
            # Mark index entries: "<len>:<mark>" + 16-digit seq + payload.
            head = len(args[1]) + len(b"%d" % len(args[1])) + 17
            result = _to_msgs([p[head:] for p in payloads])
        return result, None if summary is None else _dec(summary)

    async def _read_rest(
        self, args: list[Any], cursor: bytes, payloads: list[bytes], limit: int | None
    ) -> list[bytes]:
        # A read bigger than one run's budget: page on from the cursor.
        args[4] = _ZERO
        while cursor is not None:
            if limit is not None:
                args[3] = b"%d" % (limit - len(payloads))
            args[5] = cursor
            _, cursor, page = await self._run("get", args)
            # Backward pages (with a limit) come newest first.
            payloads = payloads + page if limit is None else page + payloads
        return payloads

    # -- state ----------------------------------------------------------------

    async def _export_state(self) -> tuple[StateContent, str]:
        """Return every message with its marks, and the summary; see :meth:`export_state`.

        A session bigger than one run's budget is read in several runs, each
        consistent on its own.
        """
        content: StateContent = []
        summary: bytes | None = None
        cursor = _NO
        budget = b"%d" % EXPORT_BUDGET
        while cursor is not None:
            reply = await self._run("export", [self._ttl_arg, cursor, budget])
            if not content:
                summary = reply[0]
            cursor = reply[1]
            n = reply[2]
            payloads = reply[3 + n : 3 + 2 * n]
            blobs = reply[3 + 2 * n : 3 + 3 * n]
            fields = _unpack(payloads)
            for one, blob in zip(fields, blobs, strict=True):
                content.append((_to_dict(one), _split_blob(blob)))
        return content, "" if summary is None else _dec(summary)

    async def _import_state(self, content: list[tuple[Msg, list[str]]], summary: str) -> None:
        """Replace the session's messages, marks and summary, atomically.

        An import bigger than one run is written to staging keys first and
        swapped in by one final run, so readers never see half of it.
        """
        triples: list[bytes] = []
        for msg, marks in content:
            triples += (_enc(msg.id), _pack(msg), _marks_blob(marks))
        head = [self._ttl_arg, b"one", _enc(summary)]
        n = len(triples) // 3
        if n <= IMPORT_BUDGET:
            await self._run("import", [*head, _ZERO, *triples])
        else:
            token = secrets.token_hex(8).encode()
            staging = tuple(k + b":t" + token for k in self._keys[1:])
            keys = self._keys + staging
            for start in range(0, n, IMPORT_BUDGET):
                last = start + IMPORT_BUDGET >= n
                head[1] = b"commit" if last else b"stage"
                part = triples[start * 3 : (start + IMPORT_BUDGET) * 3]
                await self._run("import", [*head, b"%d" % start, *part], keys)
