"""``RedisMemory``: every operation one atomic Lua script, one round trip.

This module is the operations: it encodes arguments (:mod:`._codec`), cuts
calls too big for one script run into several (:mod:`._runs`), and runs each through the
scripts' typed protocol (:mod:`._protocol`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import partial
from typing import Any

import redis.asyncio as aioredis

from memmark.core import (
    BatchResult,
    DuplicateMessageError,
    MessagePage,
    Msg,
    PageQuery,
    SessionInfo,
    StateContent,
    StoreBackedMemory,
)
from memmark.core.batch import Operation
from memmark.core.cache import MessageCache, Snapshot, chosen_cache
from memmark.core.sessions import SessionKey, select
from memmark.core.urls import OpenedByUrl
from memmark.redis._batch import batch_result, idempotent, operation_arguments
from memmark.redis._client import cache_key, make_client, one_source
from memmark.redis._codec import (
    decode_marks,
    decode_text,
    encode_marks,
    encode_text,
    message_dict,
    pack_message,
    unpack_fields,
    unpack_messages,
)
from memmark.redis._keys import SessionKeys, session_keys, staging_keys
from memmark.redis._listing import store_sessions
from memmark.redis._open import open_memory
from memmark.redis._protocol import SessionScripts, ttl_argument
from memmark.redis._runs import RUN_BYTES, bytes_written, cut_runs, in_chunks
from memmark.redis._snapshots import next_snapshot

# How much one script run may do. Each run is atomic; a call that needs more
# is cut into several runs (see docs/redis.md on what that means). These
# bound the messages a run takes; _runs.RUN_BYTES bounds its bytes.
ADD_BUDGET = 2000  # messages x (1 + marks) written per run
DELETE_BUDGET = 2000  # ids per run
DELETE_BY_MARK_BUDGET = 1000  # messages removed per run
UPDATE_BUDGET = 2000  # messages re-marked per run
READ_BUDGET = 5000  # messages examined per run of get_memory
EXPORT_BUDGET = 5000  # messages per run of export_state
IMPORT_BUDGET = 2000  # messages per run of import_state


class RedisMemory(StoreBackedMemory, OpenedByUrl, opener=open_memory):
    """A memory kept in Redis, shared by every handle on the same session.

    Each call is one ``EVALSHA`` of a script from ``lua/``: atomic, and one
    round trip. The session lives in nine keys under one hash tag, so the
    scripts also run on Redis Cluster. ``list_sessions`` is the exception:
    it ``SCAN``s the keyspace (every primary of a cluster), which costs
    O(keys in the database); it is meant for administration, not requests.
    See docs/redis.md for the key layout and what happens to calls too
    big for one script run.

    ``RedisMemory.from_url(url, user_id=..., session_id=..., **options)``
    opens one on the client every memory of that URL and those options
    shares in the process (the one :func:`memmark.core.connect` uses), for
    ``redis://``, ``rediss://``, or ``redis+cluster://`` /
    ``rediss+cluster://`` for a Redis Cluster; ``options`` are
    ``key_prefix``, ``key_ttl``, ``connect_timeout``, ``command_timeout``
    and options of the redis-py client. Closing it leaves the client open
    (:func:`memmark.core.urls.close_shared` closes it).

    Args:
        session_id: The session; any string, ``None`` for ``"default_session"``.
        user_id: The user; any string, ``None`` for ``"default_user"``.
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
        message_cache: Where decoded sessions are kept between calls:
            ``True`` (the default) for the process-wide cache, a
            :class:`~memmark.redis.MessageCache` of your own, or ``False``
            for none. A read of a session nobody wrote since this process
            last saw it then moves and decodes nothing (see the README).
        **client_kwargs: Passed to ``redis.asyncio.Redis`` when the memory
            makes its own client.

    Raises:
        ValueError: More than one of ``client``, ``url``, ``connection_pool``
            is given, ``key_ttl`` is NaN or outside 0.001 to ``MAX_KEY_TTL``
            (10**10) seconds, or ``key_prefix`` holds an empty ``{}``.
    """

    def __init__(
        self,
        session_id: str | None = "default_session",
        user_id: str | None = "default_user",
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
        message_cache: MessageCache | bool = True,
        **client_kwargs: Any,
    ) -> None:
        super().__init__(session_id, user_id)
        if not isinstance(key_prefix, str):
            raise TypeError(f"key_prefix: expected a str, got {type(key_prefix).__name__}")
        one_source(client, url, connection_pool)
        self.key_prefix = key_prefix
        keys = session_keys(key_prefix, self.user_id, self.session_id)
        ttl = ttl_argument(key_ttl)
        self._key_ttl = key_ttl

        self._owns_client = client is None
        made = (
            client
            if client is not None
            else make_client(url, connection_pool, (host, port, db, password), client_kwargs)
        )
        self._scripts = SessionScripts(made, keys, ttl)
        self._cache = chosen_cache(message_cache)
        self._cache_key = cache_key(made, keys)

    # -- settings -------------------------------------------------------------

    @property
    def key_ttl(self) -> float | None:
        """Seconds after the last call at which the session's keys expire, or ``None``.

        May be changed at any time; the next call applies it to every key.
        """
        return self._key_ttl

    @key_ttl.setter
    def key_ttl(self, value: float | None) -> None:
        self._scripts.ttl = ttl_argument(value)
        self._key_ttl = value

    def get_client(self) -> Any:
        """Return the ``redis.asyncio`` client the memory talks through."""
        return self._scripts.client

    @property
    def keys(self) -> SessionKeys:
        """The session's keys: summary, order, ids, marks, mark index, version, last write."""
        return self._scripts.keys

    async def _close(self) -> None:
        """Close the client if the memory made it; a client or pool passed in stays open."""
        if self._owns_client:
            await self._scripts.client.aclose()

    # -- writes ---------------------------------------------------------------

    async def _add(self, msgs: list[Msg], marks: list[str], skip_duplicated: bool) -> None:
        encoded_marks = [encode_text(mark) for mark in marks]
        ids: list[bytes] = []
        payloads: list[bytes] = []
        size = 0
        for msg in msgs:
            msg_id = encode_text(msg.id)
            payload = pack_message(msg)
            ids.append(msg_id)
            payloads.append(payload)
            size += len(msg_id) + len(payload)
        scripts = self._scripts
        held = self._take_cached()
        # Each payload is written once, and again into the index per mark.
        if len(msgs) * (1 + len(marks)) <= ADD_BUDGET and size * (1 + len(marks)) <= RUN_BYTES:
            version, taken = await scripts.add(
                b"skip" if skip_duplicated else b"refuse", encoded_marks, ids, payloads
            )
            # The cache gets its own decoded copies: the caller may change theirs.
            decode = partial(unpack_messages, payloads)
            self._advance(held, version, lambda h, v: h.added(v, decode, marks, size))
            if taken:
                raise DuplicateMessageError([decode_text(msg_id) for msg_id in taken])
            return
        weights = [bytes_written(i, p, len(marks)) for i, p in zip(ids, payloads, strict=True)]
        runs = list(cut_runs(ids, weights, max(1, ADD_BUDGET // (1 + len(marks)))))
        if not skip_duplicated:
            # Too big for one run: check every run first, then write. Each
            # run is atomic, the whole call is not (see the README).
            taken = []
            for run in runs:
                _, found = await scripts.add(b"check", encoded_marks, ids[run.start : run.stop], ())
                taken += found
            if taken:
                raise DuplicateMessageError([decode_text(msg_id) for msg_id in taken])
        for run in runs:
            await scripts.add(
                b"skip", encoded_marks, ids[run.start : run.stop], payloads[run.start : run.stop]
            )

    async def _delete(self, ids: list[str]) -> int:
        held = self._take_cached()
        chunks = in_chunks([encode_text(msg_id) for msg_id in ids], DELETE_BUDGET)
        removed = 0
        for chunk in chunks:
            version, count = await self._scripts.delete(chunk)
            removed += count
        if len(chunks) == 1:
            self._advance(held, version, lambda h, v: h.without(v, ids))
        return removed

    async def _delete_by_mark(self, marks: list[str]) -> int:
        encoded = [encode_text(mark) for mark in marks]
        held = self._take_cached()
        removed = 0
        runs = 0
        while True:
            reply = await self._scripts.delete_by_mark(encoded, DELETE_BY_MARK_BUDGET)
            removed += reply.removed
            runs += 1
            if not reply.more:
                if runs == 1:
                    self._advance(held, reply.version, lambda h, v: h.without_marks(v, marks))
                return removed

    async def _clear(self) -> None:
        held = self._take_cached()
        version = await self._scripts.clear()
        self._advance(held, version, lambda h, v: Snapshot(v, {}, {}, 0))

    async def _update_messages_mark(
        self, new_mark: str | None, old_mark: str | None, msg_ids: list[str] | None
    ) -> int:
        new = None if new_mark is None else encode_text(new_mark)
        old = None if old_mark is None else encode_text(old_mark)
        held = self._take_cached()
        changed, versions = await self._remark(new, old, msg_ids)
        if len(versions) == 1:
            self._advance(
                held, versions[0], lambda h, v: h.remarked(v, new_mark, old_mark, msg_ids)
            )
        return changed

    async def _remark(
        self, new: bytes | None, old: bytes | None, msg_ids: list[str] | None
    ) -> tuple[int, list[int | None]]:
        """Run ``update_marks`` until done; return the count and each run's version."""
        changed = 0
        versions: list[int | None] = []
        if msg_ids is not None:
            for chunk in in_chunks([encode_text(msg_id) for msg_id in msg_ids], UPDATE_BUDGET):
                # A run that reached RUN_BYTES names the first id it left.
                position: bytes | None = b""
                while position is not None:
                    reply = await self._scripts.update_marks(
                        new, old, chunk, position, UPDATE_BUDGET
                    )
                    changed += reply.changed
                    versions.append(reply.version)
                    position = reply.cursor
            return changed, versions
        cursor: bytes | None = b""
        while cursor is not None:
            reply = await self._scripts.update_marks(new, old, None, cursor, UPDATE_BUDGET)
            changed += reply.changed
            versions.append(reply.version)
            cursor = reply.cursor
        return changed, versions

    async def _update_compressed_summary(self, summary: str) -> None:
        held = self._take_cached()
        version = await self._scripts.summary(encode_text(summary))
        # The cache holds messages and marks, not the summary: they stay.
        self._advance(held, version, Snapshot.at)

    # -- reads ----------------------------------------------------------------

    async def _size(self) -> int:
        return await self._scripts.size()

    async def _get_memory(
        self, mark: str | None, exclude_mark: str | None, limit: int | None, with_summary: bool
    ) -> tuple[list[Msg], str | None]:
        cache = self._cache
        if cache is None:
            return await self._read_store(mark, exclude_mark, limit, with_summary)
        held = cache.get(self._cache_key)
        # Only a read of the whole session (less a mark) fills the cache: a
        # mark or a limit read of a session not held reads only its part.
        whole = mark is None and limit is None
        if held is None and not whole:
            return await self._read_store(mark, exclude_mark, limit, with_summary)
        reply = await self._scripts.read(None if held is None else held.version, whole, READ_BUDGET)
        summary = None if reply.summary is None else decode_text(reply.summary)
        if reply.state == 0 and held is not None:
            return held.select(mark, exclude_mark, limit), summary
        if reply.state == 1:
            marks = reply.marks
            snapshot = Snapshot.of(
                reply.version or 0,
                unpack_messages(reply.payloads) if reply.payloads else (),
                {
                    decode_text(marks[n]): frozenset(decode_marks(marks[n + 1]))
                    for n in range(0, len(marks), 2)
                },
                sum(map(len, reply.payloads)),
            )
            if reply.version is not None:  # a session without a version is never held
                cache.put(self._cache_key, snapshot)
            return snapshot.select(mark, exclude_mark, limit), summary
        if held is not None and cache.get(self._cache_key) is held:
            cache.take(self._cache_key)
        return await self._read_store(mark, exclude_mark, limit, with_summary)

    async def _read_store(
        self, mark: str | None, exclude_mark: str | None, limit: int | None, with_summary: bool
    ) -> tuple[list[Msg], str | None]:
        # The summary is read in the same round trip as the messages.
        wanted = None if mark is None else encode_text(mark)
        excluded = None if exclude_mark is None else encode_text(exclude_mark)
        reply = await self._scripts.get(wanted, excluded, limit, with_summary, b"", READ_BUDGET)
        payloads = reply.payloads
        if reply.cursor is not None:
            payloads = await self._read_rest(wanted, excluded, limit, reply.cursor, payloads)
        summary = None if reply.summary is None else decode_text(reply.summary)
        return (unpack_messages(payloads) if payloads else []), summary

    async def _read_rest(
        self,
        mark: bytes | None,
        exclude: bytes | None,
        limit: int | None,
        cursor: bytes | None,
        payloads: list[bytes],
    ) -> list[bytes]:
        # A read bigger than one run's budget: page on from the cursor.
        while cursor is not None:
            wanted = None if limit is None else limit - len(payloads)
            reply = await self._scripts.get(mark, exclude, wanted, False, cursor, READ_BUDGET)
            # Backward pages (with a limit) come newest first.
            payloads = payloads + reply.payloads if limit is None else reply.payloads + payloads
            cursor = reply.cursor
        return payloads

    async def _version(self) -> int:
        return await self._scripts.version()

    # -- batches, pages, reads by id, the state slot -------------------------

    async def _apply(
        self, ops: list[Operation], expect_version: int | None, batch_id: str | None
    ) -> BatchResult:
        held = self._take_cached()
        payloads: list[list[bytes]] = []
        reply = await self._scripts.apply(
            None if batch_id is None else encode_text(batch_id),
            expect_version,
            operation_arguments(ops, payloads),
            idempotent(ops, expect_version, batch_id),
        )
        if reply.status == 0:
            self._advance(held, reply.version, lambda h, v: next_snapshot(h, v, ops, payloads))
        else:
            self._advance(held, reply.version, Snapshot.at)  # nothing was written
        return batch_result(ops, reply, expect_version)

    async def _get_page(self, query: PageQuery) -> MessagePage:
        before, after, mark, exclude = query.before, query.after, query.mark, query.exclude_mark
        reply = await self._scripts.get_page(
            query.limit,
            None if before is None else encode_text(before),
            None if after is None else encode_text(after),
            None if mark is None else encode_text(mark),
            None if exclude is None else encode_text(exclude),
        )
        if not reply.found:
            raise query.cursor_not_found()
        messages = unpack_messages(reply.payloads) if reply.payloads else []
        return MessagePage(messages, reply.has_more, reply.version)

    async def _get_messages(self, ids: list[str]) -> list[Msg]:
        payloads = await self._scripts.get_messages([encode_text(msg_id) for msg_id in ids])
        return unpack_messages(payloads) if payloads else []

    async def _get_session_state(self) -> str | None:
        state = await self._scripts.session_state()
        return None if state is None else decode_text(state)

    # -- the store's sessions ---------------------------------------------------

    async def _list_sessions(
        self, all_users: bool, limit: int, after: SessionKey | None
    ) -> list[SessionInfo]:
        found = await store_sessions(
            self._scripts.client, self.key_prefix, None if all_users else self.user_id
        )
        return select(found, limit, after)

    async def _delete_session(self) -> bool:
        self._take_cached()
        return await self._scripts.delete_session()

    # -- the message cache ------------------------------------------------------

    def _take_cached(self) -> Snapshot | None:
        """Remove this session's snapshot from the cache for a write, returning it.

        Only a write that completes puts the next one back, so an error or a
        cancellation mid-call leaves the session uncached.
        """
        return None if self._cache is None else self._cache.take(self._cache_key)

    def _advance(
        self, held: Snapshot | None, version: int | None, after: Callable[[Snapshot, int], Snapshot]
    ) -> None:
        """Cache the snapshot after this process's write, when the version shows no other."""
        if held is None or version is None or self._cache is None:
            return
        if version == held.version:  # the run wrote nothing
            self._cache.put(self._cache_key, held)
        elif version == held.version + 1:
            self._cache.put(self._cache_key, after(held, version))

    # -- state ----------------------------------------------------------------

    async def _export_state(self) -> tuple[StateContent, str, str | None]:
        # A session bigger than one run's budget is read in several runs,
        # each consistent on its own; the summary and state slot are the first run's.
        reply = await self._scripts.export_state(b"", EXPORT_BUDGET)
        summary = "" if reply.summary is None else decode_text(reply.summary)
        state = None if reply.state is None else decode_text(reply.state)
        content: StateContent = []
        while True:
            for fields, blob in zip(unpack_fields(reply.payloads), reply.mark_blobs, strict=True):
                content.append((message_dict(fields), decode_marks(blob)))
            if reply.cursor is None:
                return content, summary, state
            reply = await self._scripts.export_state(reply.cursor, EXPORT_BUDGET)

    async def _import_state(
        self, content: list[tuple[Msg, list[str]]], summary: str, session_state: str | None
    ) -> None:
        self._take_cached()  # an import replaces everything: read it afresh
        # An import bigger than one run is written to staging keys first and
        # swapped in by one final run, so readers never see half of it.
        messages = [
            (encode_text(msg.id), pack_message(msg), encode_marks(marks)) for msg, marks in content
        ]
        encoded_summary = encode_text(summary)
        encoded_state = b"" if session_state is None else encode_text(session_state)
        # Each payload is written once, and again into the index per mark.
        weights = [
            bytes_written(msg_id, payload, len(marks))
            for (msg_id, payload, _), (_, marks) in zip(messages, content, strict=True)
        ]
        if len(messages) <= IMPORT_BUDGET and sum(weights) <= RUN_BYTES:
            await self._scripts.import_state(b"whole", encoded_summary, encoded_state, 0, messages)
            return
        staging = staging_keys(self.keys, secrets.token_hex(8).encode())
        runs = list(cut_runs([m[0] for m in messages], weights, IMPORT_BUDGET))
        for run in runs:
            await self._scripts.import_state(
                b"commit" if run is runs[-1] else b"stage",
                encoded_summary,
                encoded_state,
                run.start,
                messages[run.start : run.stop],
                staging,
            )
