"""The scripts' protocol: one typed method per script of ``lua/``.

Each method is the only place its script's ``ARGV`` is laid out and its
reply taken apart; both follow the ``ARGV`` and ``Returns`` lines of the
script's header, method and script sharing one name. Every script takes
the session's keys (:class:`~memmark.redis._keys.SessionKeys`) as ``KEYS``
and the keys' TTL as ``ARGV[1]``. Ids, marks and the summary go in and
come out as encoded bytes (:mod:`memmark.redis._codec`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from typing import Any, Literal, NamedTuple

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from memmark.redis._codec import index_entry_head
from memmark.redis._keys import SessionKeys
from memmark.redis._replies import (
    ApplyReply,
    DeleteByMarkReply,
    ExportReply,
    GetReply,
    PageReply,
    ReadReply,
    SessionInfoReply,
    UpdateMarksReply,
)
from memmark.redis._scripts import Script, scripts

AddMode = Literal[b"skip", b"refuse", b"check"]
"""How ``add`` treats ids already stored; see ``lua/add.lua``."""

ImportPhase = Literal[b"whole", b"stage", b"commit"]
"""Which part of an import a run of ``import_state`` does; see ``lua/import_state.lua``."""

NO_EXPIRY = b"0"
"""The TTL argument of keys that never expire."""

MAX_KEY_TTL = 10**10
"""The longest TTL in seconds (about 317 years). The scripts hold the TTL as
a Lua number and hand it to ``PEXPIRE``, which takes it as an integer only
while Lua prints it with 14 digits or fewer: 10**13 milliseconds is the
last power of ten it prints without an exponent."""


class Scripts(NamedTuple):
    """Every script of ``lua/``, one field per file, named after it."""

    add: Script
    apply: Script
    clear: Script
    delete: Script
    delete_by_mark: Script
    delete_session: Script
    export_state: Script
    get: Script
    get_messages: Script
    get_page: Script
    import_state: Script
    read: Script
    session_info: Script
    session_state: Script
    size: Script
    summary: Script
    update_marks: Script
    version: Script


@cache
def load_scripts() -> Scripts:
    """Return the scripts of the folder, each in its field.

    Raises:
        RuntimeError: The folder and :class:`Scripts` disagree: a script
            without a method here, or a method without its script.
    """
    found = scripts()
    unknown = sorted(set(found) - set(Scripts._fields))
    missing = sorted(set(Scripts._fields) - set(found))
    if unknown or missing:
        raise RuntimeError(
            f"memmark-redis: Lua scripts without a method: {unknown}; "
            f"methods without a Lua script: {missing}"
        )
    return Scripts(**found)


def ttl_argument(seconds: float | None) -> bytes:
    """Return the TTL argument (milliseconds) of keys that expire after ``seconds``.

    Raises:
        TypeError: ``seconds`` is neither a number nor ``None``.
        ValueError: ``seconds`` is NaN, under a millisecond, or over
            :data:`MAX_KEY_TTL`.
    """
    if seconds is None:
        return NO_EXPIRY
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(
            f"key_ttl: expected seconds as a number or None, got {type(seconds).__name__}"
        )
    # Compared before any conversion: int(nan) and int(inf) raise errors that
    # name nothing, and a huge int would make a float overflow.
    if not 0.001 <= seconds <= MAX_KEY_TTL:
        raise ValueError(f"key_ttl: must be from 0.001 to {MAX_KEY_TTL} seconds, got {seconds!r}")
    return b"%d" % int(seconds * 1000)


def server_label(client: Any) -> str:
    """Return the URL of the server ``client`` talks to, its password masked."""
    pool = getattr(client, "connection_pool", None)
    if pool is None:  # a cluster client: name the node it started from
        node = client.get_default_node() or client.startup_nodes[0]
        return f"redis+cluster://{node.host}:{node.port}"
    options = pool.connection_kwargs
    if "path" in options:
        return f"unix://{options['path']}"
    scheme = "rediss" if issubclass(pool.connection_class, aioredis.SSLConnection) else "redis"
    user = options.get("username") or ""
    auth = f"{user}:***@" if options.get("password") is not None else (f"{user}@" if user else "")
    host, port, db = (
        options.get("host", "localhost"),
        options.get("port", 6379),
        options.get("db", 0),
    )
    return f"{scheme}://{auth}{host}:{port}/{db}"


class SessionScripts:
    """The scripts, run on one session's keys through one client.

    Attributes:
        client: The ``redis.asyncio`` client (``Redis`` or ``RedisCluster``).
        keys: The session's keys, given to every script as ``KEYS``.
    """

    __slots__ = (
        "_bare_count",
        "_cluster_pending",
        "_scripts",
        "_settled",
        "_ttl",
        "_ttl_changes",
        "client",
        "keys",
    )

    def __init__(self, client: Any, keys: SessionKeys, ttl: bytes) -> None:
        self.client = client
        self.keys = keys
        self._ttl = ttl
        self._scripts = load_scripts()
        cluster = isinstance(client, aioredis.RedisCluster)
        # redis-py's asyncio RedisCluster can fail when its very first commands
        # run concurrently (a node connection is used before it is open);
        # initialising once, before the first script, avoids it.
        self._cluster_pending = cluster
        # A cluster client may send a read-only command to a replica
        # (read_from_replicas), where a count can lag this handle's own
        # writes; a script always runs on the primary.
        self._bare_count = not cluster
        # The TTL's setting (counted) that the last script run applied; see size().
        self._ttl_changes = 0
        self._settled = -1

    @property
    def ttl(self) -> bytes:
        """The TTL argument every script gets (see :func:`ttl_argument`)."""
        return self._ttl

    @ttl.setter
    def ttl(self, ttl: bytes) -> None:
        self._ttl = ttl
        self._ttl_changes += 1

    async def _run(
        self,
        script: Script,
        args: Sequence[Any],
        keys: Sequence[bytes] | None = None,
        *,
        idempotent: bool = True,
    ) -> Any:
        keys = self.keys if keys is None else keys
        applying = self._ttl_changes  # the setting args carry, made before this call
        result = await self._send(lambda: script.run(self.client, keys, args), idempotent)
        self._settled = applying
        return result

    async def _send(self, call: Callable[[], Awaitable[Any]], idempotent: bool = True) -> Any:
        """Make ``call``, one command to the server, naming the server in a connection error."""
        try:
            return await self._send_once_more_on_a_lost_connection(call, idempotent)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # redis-py names host and port at most; the error names the server.
            raise type(exc)(f"{server_label(self.client)}: {exc}") from exc

    async def _send_once_more_on_a_lost_connection(
        self, call: Callable[[], Awaitable[Any]], idempotent: bool
    ) -> Any:
        if self._cluster_pending:
            await self.client.initialize()
            self._cluster_pending = False
        try:
            return await call()
        except RedisConnectionError:
            pool = getattr(self.client, "connection_pool", None)
            if pool is None or not idempotent:
                # A cluster client re-routes and reconnects on its own; a run
                # that may have been applied must not be applied twice.
                raise
            # The client gave up on a connection the server closed (a restart,
            # a fail-over). The run is idempotent, so after dropping the
            # pool's idle connections the call runs once more on a new one.
            await pool.disconnect(inuse_connections=False)
            return await call()

    # -- one method per script, in the order of the files ---------------------

    async def add(
        self,
        mode: AddMode,
        marks: Sequence[bytes],
        ids: Sequence[bytes],
        payloads: Sequence[bytes],
    ) -> tuple[int | None, list[bytes]]:
        """Append messages, each carrying every mark in ``marks``.

        Args:
            mode: ``b"skip"`` ids already stored, ``b"refuse"`` the whole run
                when one is, or only ``b"check"`` which are.
            marks: The encoded marks, distinct.
            ids: The messages' encoded ids.
            payloads: Their payloads, in the same order; none in mode ``b"check"``.

        Returns:
            The session's version after the run (moved on by one when the
            run wrote; ``None`` for a session without one) and the ids
            already stored (none in mode ``b"skip"``).
        """
        args = [self.ttl, mode, b"%d" % len(marks), *marks, *ids]
        args += payloads
        version, taken = await self._run(self._scripts.add, args)
        return version, taken

    async def apply(
        self,
        batch_id: bytes | None,
        expected: int | None,
        operations: Sequence[bytes],
        idempotent: bool,
    ) -> ApplyReply:
        """Apply a batch of writes, all or nothing, in one run.

        Args:
            batch_id: The batch's encoded id, or ``None``.
            expected: The version the session must be at, or ``None``.
            operations: The operations' arguments, laid out by
                :func:`memmark.redis._batch.operation_arguments`.
            idempotent: Whether running the batch twice does what once does
                (no pop, no expected version, no id), so that a run on a
                connection lost mid-call may be sent again.
        """
        args = [
            self.ttl,
            b"" if batch_id is None else batch_id,
            b"" if expected is None else b"%d" % expected,
            *operations,
        ]
        status, version, results, taken = await self._run(
            self._scripts.apply, args, idempotent=idempotent
        )
        return ApplyReply(status, version, results, taken)

    async def clear(self) -> int:
        """Remove every message and mark; the summary stays. Return the new version."""
        version: int = await self._run(self._scripts.clear, (self.ttl,))
        return version

    async def delete(self, ids: Sequence[bytes]) -> tuple[int, int]:
        """Remove the messages ``ids`` (encoded, distinct).

        Returns:
            The session's new version and how many of the messages were there.
        """
        version, removed = await self._run(self._scripts.delete, (self.ttl, *ids))
        return version, removed

    async def delete_by_mark(self, marks: Sequence[bytes], budget: int) -> DeleteByMarkReply:
        """Remove up to ``budget`` messages carrying any of ``marks`` (encoded, distinct)."""
        version, removed, more = await self._run(
            self._scripts.delete_by_mark, (self.ttl, b"%d" % budget, *marks)
        )
        return DeleteByMarkReply(version, removed, more == 1)

    async def delete_session(self) -> bool:
        """Remove every key of the session; return whether it had one."""
        removed: int = await self._run(self._scripts.delete_session, (self.ttl,))
        return removed == 1

    async def export_state(self, cursor: bytes, budget: int) -> ExportReply:
        """Read up to ``budget`` messages after ``cursor`` (``b""`` from the start)."""
        summary, state, next_cursor, payloads, blobs = await self._run(
            self._scripts.export_state, (self.ttl, cursor, b"%d" % budget)
        )
        return ExportReply(summary, state, next_cursor, payloads, blobs)

    async def get(
        self,
        mark: bytes | None,
        exclude: bytes | None,
        limit: int | None,
        with_summary: bool,
        cursor: bytes,
        budget: int,
    ) -> GetReply:
        """Read messages, examining at most ``budget`` of them.

        Args:
            mark: Only messages carrying this encoded mark, when given.
            exclude: Only messages not carrying this encoded mark, when given.
            limit: How many more of the newest are wanted; ``None``: all.
            with_summary: Whether to read the summary too.
            cursor: ``b""`` to start, else the cursor of the run before.
            budget: The most messages the run may examine.
        """
        summary, next_cursor, items = await self._run(
            self._scripts.get,
            (
                self.ttl,
                b"" if mark is None else mark,
                b"" if exclude is None else exclude,
                b"-1" if limit is None else b"%d" % limit,
                b"1" if with_summary else b"0",
                cursor,
                b"%d" % budget,
            ),
        )
        if mark is not None and items:
            # A marked read returns the mark index entries: cut each head off.
            head = index_entry_head(mark)
            items = [entry[head:] for entry in items]
        return GetReply(summary, next_cursor, items)

    async def get_messages(self, ids: Sequence[bytes]) -> list[bytes]:
        """Return the payloads of the stored ones among ``ids`` (encoded, distinct), in order."""
        payloads: list[bytes] = await self._run(self._scripts.get_messages, (self.ttl, *ids))
        return payloads

    async def get_page(
        self,
        limit: int,
        before: bytes | None,
        after: bytes | None,
        mark: bytes | None,
        exclude: bytes | None,
    ) -> PageReply:
        """Read one page of messages and the session's version, at one instant.

        Args:
            limit: The most messages on the page.
            before: The encoded id the page ends before (newest first walk).
            after: The encoded id the page starts after (oldest first walk).
            mark: Only messages carrying this encoded mark, when given.
            exclude: Only messages not carrying this encoded mark, when given.
        """
        found, version, has_more, payloads = await self._run(
            self._scripts.get_page,
            (
                self.ttl,
                b"%d" % limit,
                b"" if before is None else before,
                b"" if after is None else after,
                b"" if mark is None else mark,
                b"" if exclude is None else exclude,
            ),
        )
        return PageReply(found == 1, version, has_more == 1, payloads)

    async def import_state(
        self,
        phase: ImportPhase,
        summary: bytes,
        state: bytes,
        base: int,
        messages: Sequence[tuple[bytes, bytes, bytes]],
        staging: Sequence[bytes] = (),
    ) -> None:
        """Write messages in place of the session's, and its summary.

        Args:
            phase: ``b"whole"`` replaces the session in this one run;
                ``b"stage"`` writes to ``staging`` (emptied first when
                ``base`` is 0); ``b"commit"`` writes to ``staging`` and swaps
                it in.
            summary: The encoded summary; ``b""`` for none.
            state: The state slot's encoded JSON text; ``b""`` for none.
            base: The sequence number of the first message minus one.
            messages: Each message's encoded id, payload and marks blob.
            staging: The staging keys (see :func:`~memmark.redis._keys.staging_keys`)
                when ``phase`` is not ``b"whole"``.
        """
        args: list[bytes] = [self.ttl, phase, summary, state, b"%d" % base]
        for column in range(3):  # the ids, then the payloads, then the blobs
            args += [message[column] for message in messages]
        await self._run(self._scripts.import_state, args, (*self.keys, *staging))

    async def read(self, held: int | None, fill: bool, budget: int) -> ReadReply:
        """Read the whole session, unless the version ``held`` is current.

        Args:
            held: The version whose messages the caller holds, if any.
            fill: Whether to send the whole session when ``held`` is not current.
            budget: The most messages a whole reply may hold.
        """
        version, summary, state, payloads, marks = await self._run(
            self._scripts.read,
            (
                self.ttl,
                b"" if held is None else b"%d" % held,
                b"1" if fill else b"0",
                b"%d" % budget,
            ),
        )
        return ReadReply(None if version is None else int(version), summary, state, payloads, marks)

    async def session_info(self) -> SessionInfoReply:
        """Return the session's version, last write time and size, read at one instant.

        A listing reads many sessions at once with :func:`session_infos`.
        """
        return (await session_infos(self.client, [self.keys]))[0]

    async def session_state(self) -> bytes | None:
        """Return the state slot's encoded JSON text, ``None`` when unset."""
        state: bytes | None = await self._run(self._scripts.session_state, (self.ttl,))
        return state

    async def size(self) -> int:
        """Return the number of messages in the session.

        Without a TTL, once a script of this handle has run since the TTL was
        last set (so the keys' expiry is as this handle wants it), this is a
        bare ``ZCARD``: there is no expiry to slide, and a script run costs
        a count about a third more (see docs/redis.md). It leaves an expiry
        another handle set since as it is; this handle's next other call
        drops it. On a cluster it stays a script, which runs on the primary.
        """
        count: int
        if self._ttl == NO_EXPIRY and self._settled == self._ttl_changes and self._bare_count:
            count = await self._send(lambda: self.client.execute_command("ZCARD", self.keys.ids))
        else:
            count = await self._run(self._scripts.size, (self.ttl,))
        return count

    async def summary(self, summary: bytes) -> int:
        """Store the encoded summary (``b""`` removes it); return the new version."""
        version: int = await self._run(self._scripts.summary, (self.ttl, summary))
        return version

    async def update_marks(
        self,
        new: bytes | None,
        old: bytes | None,
        ids: Sequence[bytes] | None,
        cursor: bytes,
        budget: int,
    ) -> UpdateMarksReply:
        """Re-mark up to ``budget`` messages.

        Args:
            new: The encoded mark to add, when given.
            old: The encoded mark to remove and select by, when given.
            ids: Only these messages (encoded, distinct), when given.
            cursor: ``b""`` to start, else the cursor of the run before.
            budget: The most messages the run may touch.
        """
        args = [
            self.ttl,
            b"" if new is None else new,
            b"" if old is None else old,
            b"0" if ids is None else b"1",
            cursor,
            b"%d" % budget,
        ]
        if ids is not None:
            args += ids
        version, changed, next_cursor = await self._run(self._scripts.update_marks, args)
        return UpdateMarksReply(version, changed, next_cursor)

    async def version(self) -> int:
        """Return the session's version; 0 for a session without one."""
        version: int = await self._run(self._scripts.version, (self.ttl,))
        return version


async def session_infos(client: Any, sessions: Sequence[SessionKeys]) -> list[SessionInfoReply]:
    """Run ``session_info`` on each session, pipelined: one round trip per node and batch.

    Each session's reply is one atomic run; the sessions are read one after
    another, not at one instant. A Redis Cluster pipeline sends each run to
    the node of its session's slot.

    Args:
        client: A ``redis.asyncio`` client (``Redis`` or ``RedisCluster``).
        sessions: The sessions' keys.
    """
    script = load_scripts().session_info
    replies: list[Any] = []
    for start in range(0, len(sessions), _INFO_BATCH):
        batch = sessions[start : start + _INFO_BATCH]
        pipe = client.pipeline(transaction=False)
        for keys in batch:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, NO_EXPIRY)
        found = await pipe.execute(raise_on_error=False)
        for keys, reply in zip(batch, found, strict=True):
            if isinstance(reply, NoScriptError):
                # A node without the script (a restart, a fail-over): the
                # fallback of Script.run, which also loads it there.
                reply = await script.run(client, keys, (NO_EXPIRY,))
            elif isinstance(reply, Exception):
                raise reply
            replies.append(reply)
    return [SessionInfoReply(*(int(field) for field in reply)) for reply in replies]


_INFO_BATCH = 1000
"""How many ``session_info`` runs one pipeline sends."""
