"""Floors: the bare client doing the least each operation's work could cost.

A floor is timed in the same loop as the row it bounds, between the same
peer and memmark calls (``timing.interleaved``), so it runs on the same warm
or cold caches and under the same load; a row then reads as "× floor".

Floors work on a session of their own (same corpus, same rows, filled
through memmark), so they never disturb the sessions the memories are timed
on:

- **Redis**: writes are one ``EVALSHA`` of a script that returns nothing,
  sent with the nine keys of a session and the ``ARGV`` memmark's script
  gets for the call (``add`` packs its payloads, packing timed: what a
  client must send), as the batched turn's floor is: an atomic write on a
  session must name its keys, so only the server's work is left out (for
  a re-mark that is copying the payloads into the new mark's index);
  ``size`` is a ``ZCARD`` of memmark's own order key; reads are an
  ``HGETALL`` (the whole session) or ``HMGET`` (the rows the call returns) of
  a hash holding the very payloads memmark stores (msgpack arrays), each
  decoded with ``msgpack.unpackb``.
- **SQL**: the driver itself (asyncpg, asyncmy, aiosqlite, on a connection
  of the engine's pool): ``executemany`` of the same message and mark rows
  (JSON encoding timed) and a commit; reads ``fetch`` the same rows (by
  ``seq``, as text) and decode them in one ``json.loads`` (see
  :func:`loads_all`); ``size`` is a ``count(*)``; deletes and re-marks are
  one statement each.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgpack  # type: ignore[import-untyped]
from redis.exceptions import NoScriptError

from benchmarks.corpus import Corpus, fill, fresh_indices
from memmark.core import Msg

Call = Callable[[], Awaitable[Any]]

EMPTY_SCRIPT = "return nil"
"""The script of the Redis floors: it returns nothing, so only the round trip is left."""


async def run_script(client: Any, script: str, sha: str, keys: Any, args: list[Any]) -> Any:
    """Run ``script`` by its SHA, loading it again if the server lost it (tests flush it)."""
    try:
        return await client.execute_command("EVALSHA", sha, len(keys), *keys, *args)
    except NoScriptError:
        await client.script_load(script)
        return await client.execute_command("EVALSHA", sha, len(keys), *keys, *args)


@dataclass(frozen=True)
class Floor:
    """A floor for one operation's row.

    Attributes:
        call: The bare client's timed call.
        setup: Untimed work before each call (e.g. re-insert what it deletes).
        note: What the floor is, for the table's note column.
    """

    call: Call
    setup: Call | None = None
    note: str = ""


def pack(msg: Msg) -> bytes:
    """Return the payload memmark's Redis memory stores for ``msg`` (see its codec)."""
    fields = [msg.id, msg.name, msg.role, msg.content, msg.metadata, msg.timestamp]
    fields.append(msg.invocation_id)
    packed: bytes = msgpack.packb(fields, use_bin_type=True)
    return packed


def unpack_all(payloads: list[bytes]) -> list[Any]:
    """Decode msgpack payloads in one call: an array header in front of them all.

    The least decoding can cost: one C call, however many payloads.
    """
    header = b"\xdd" + len(payloads).to_bytes(4, "big")
    decoded: list[Any] = msgpack.unpackb(header + b"".join(payloads), raw=False)
    return decoded


def loads_all(texts: list[str]) -> list[Any]:
    """Decode JSON texts in one ``json.loads`` of them joined as an array."""
    decoded: list[Any] = json.loads("[" + ",".join(texts) + "]")
    return decoded


def _fresh(corpus: Corpus, fresh: Any, n: int) -> list[Msg]:
    return [corpus.message(Msg, next(fresh)) for _ in range(n)]


async def redis_floors(client: Any, memory: Any, corpus: Corpus, n: int) -> dict[str, Floor]:
    """Fill ``memory`` (memmark, its own session) and return a floor per operation slug.

    Args:
        client: A ``redis.asyncio`` client on the same server.
        memory: A memmark ``RedisMemory`` of an empty session; filled here,
            its keys are where the floors read.
        corpus: The rows' corpus.
        n: Messages in the session.
    """
    session = corpus.session(Msg, n)
    await fill(memory, session)
    hash_key = memory.keys.order + b":floor-hash"
    payloads = {m.id: pack(m) for m, _ in session}
    await client.hset(hash_key, mapping=payloads)
    hint = [m.id for m, marks in session if "hint" in marks]
    rest = [m.id for m, marks in session if "hint" not in marks]
    last = [m.id for m, _ in session[-20:]]
    sha = await client.script_load(EMPTY_SCRIPT)
    fresh = fresh_indices(2 * 10**9)

    keys = list(memory.keys)

    async def evalsha(*args: Any) -> Any:
        return await run_script(client, EMPTY_SCRIPT, sha, keys, list(args))

    def add(k: int, marks: tuple[bytes, ...]) -> Floor:
        pending: list[Msg] = []

        async def setup() -> None:
            pending[:] = _fresh(corpus, fresh, k)

        async def call() -> Any:
            ids = [m.id.encode() for m in pending]
            head = [b"0", b"skip", b"%d" % len(marks), *marks]
            return await evalsha(*head, *ids, *[pack(m) for m in pending])

        return Floor(call, setup, f"EVALSHA empty script, same keys and ARGV ({k} packed)")

    async def hgetall() -> list[Any]:
        raw = await client.hgetall(hash_key)
        return unpack_all(list(raw.values()))

    def hmget(ids: list[str]) -> Floor:
        async def call() -> list[Any]:
            raw = await client.hmget(hash_key, ids)
            return unpack_all(raw)

        return Floor(call, note=f"HMGET {len(ids)} + one msgpack decode")

    async def zcard() -> Any:
        return await client.zcard(memory.keys.order)

    def empty(*args: bytes) -> Floor:
        async def call() -> Any:
            return await evalsha(b"0", *args)

        return Floor(call, note="EVALSHA empty script, same keys and ARGV")

    return {
        "add_1": add(1, ()),
        "add_100": add(100, (b"batch", b"tool")),
        "get_all": Floor(hgetall, note=f"HGETALL {n} + one msgpack decode"),
        "get_mark": hmget(hint),
        "get_exclude_mark": hmget(rest),
        "get_limit_20": hmget(last),
        "size": Floor(zcard, note="ZCARD"),
        "delete_1": empty(session[-1][0].id.encode()),
        "delete_by_mark_10": empty(b"1000", b"doomed"),
        "update_marks_10_percent": empty(b"done", b"hint", b"0", b"", b"2000"),
    }


# -- SQL ---------------------------------------------------------------------------------


class RawSQL:
    """The driver under an engine's pooled connection, with one way to run statements.

    Statements are written with ``?`` placeholders and rewritten to the
    driver's own style.
    """

    def __init__(self, dialect: str, conn: Any) -> None:
        self.dialect = dialect
        self.conn = conn

    @classmethod
    @contextlib.asynccontextmanager
    async def of(cls, engine: Any) -> AsyncIterator[RawSQL]:
        """Yield the driver connection under one of ``engine``'s pooled connections.

        The connection is thrown away afterwards (its settings were changed),
        not handed back to the pool.
        """
        pooled = await engine.raw_connection()
        try:
            raw = cls(engine.dialect.name, pooled.driver_connection)
            if raw.dialect in ("mysql", "mariadb"):
                # Reads outside a transaction, as a client in autocommit mode
                # makes them: no snapshot left open, no extra COMMIT.
                await raw.conn.autocommit(True)
            yield raw
        finally:
            pooled.invalidate()

    def _sql(self, sql: str) -> str:
        if self.dialect == "postgresql":
            parts = sql.split("?")
            return parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))
        if self.dialect in ("mysql", "mariadb"):
            return sql.replace("?", "%s")
        return sql

    async def fetch(self, sql: str, args: list[Any]) -> list[Any]:
        """Return the rows of one query."""
        sql = self._sql(sql)
        if self.dialect == "postgresql":
            return list(await self.conn.fetch(sql, *args))
        if self.dialect == "sqlite":
            async with self.conn.execute(sql, args) as cur:
                return list(await cur.fetchall())
        async with self.conn.cursor() as cur:
            await cur.execute(sql, args)
            return list(await cur.fetchall())

    async def write(self, *statements: tuple[str, list[Any]]) -> None:
        """Run ``executemany`` of each ``(sql, rows)`` in one transaction, and commit."""
        if self.dialect == "postgresql":
            async with self.conn.transaction():
                for sql, rows in statements:
                    await self.conn.executemany(self._sql(sql), rows)
            return
        if self.dialect == "sqlite":
            for sql, rows in statements:
                await self.conn.executemany(sql, rows)
            await self.conn.commit()
            return
        await self.conn.begin()
        async with self.conn.cursor() as cur:
            for sql, rows in statements:
                await cur.executemany(self._sql(sql), rows)
        await self.conn.commit()


def _marks(n: int) -> str:
    return ", ".join("?" * n)


async def sql_floors(
    raw: RawSQL, memory: Any, corpus: Corpus, n: int, prefix: str
) -> dict[str, Floor]:
    """Fill ``memory`` (memmark, its own session) and return a floor per operation slug.

    Args:
        raw: The driver connection the floors run on.
        memory: A memmark ``AsyncSQLAlchemyMemory`` of an empty session; filled here.
        corpus: The rows' corpus.
        n: Messages in the session.
        prefix: memmark's table prefix.
    """
    from memmark.sql import id_digest, pair_digest

    session = corpus.session(Msg, n)
    await fill(memory, session)
    sid = pair_digest(memory.user_id, memory.session_id)
    message, mark = f"{prefix}message", f"{prefix}mark"
    rows = await raw.fetch(f"SELECT seq, msg_id FROM {message} WHERE sid = ? ORDER BY seq", [sid])
    seq_of = {msg_id: seq for seq, msg_id in rows}
    hint = [seq_of[m.id] for m, marks in session if "hint" in marks]
    rest = [seq_of[m.id] for m, marks in session if "hint" not in marks]
    last = [seq_of[m.id] for m, _ in session[-20:]]
    fresh = fresh_indices(2 * 10**9)
    insert = f"INSERT INTO {message} (sid, mid, msg_id, msg) VALUES (?, ?, ?, ?)"
    insert_mark = f"INSERT INTO {mark} (sid, mid, mk, seq, mark) VALUES (?, ?, ?, ?, ?)"
    # As text: PostgreSQL's driver would otherwise decode each JSON value itself.
    text = "msg::text" if raw.dialect == "postgresql" else "msg"
    mark_digests = {name: id_digest(name) for name in ("batch", "tool", "hint", "done", "doomed")}

    def encoded(msgs: list[Msg]) -> list[list[Any]]:
        return [[sid, id_digest(m.id), m.id, json.dumps(m.to_dict())] for m in msgs]

    async def remove(mids: list[bytes]) -> None:
        if mids:
            where = f"WHERE sid = ? AND mid IN ({_marks(len(mids))})"
            await raw.write(
                (f"DELETE FROM {mark} {where}", [[sid, *mids]]),
                (f"DELETE FROM {message} {where}", [[sid, *mids]]),
            )

    def add(k: int, marks: tuple[str, ...]) -> Floor:
        pending: list[Msg] = []

        async def setup() -> None:
            await remove([id_digest(m.id) for m in pending])
            pending[:] = _fresh(corpus, fresh, k)

        async def call() -> None:
            statements = [(insert, encoded(pending))]
            if marks:
                mark_rows = [
                    [sid, id_digest(m.id), mark_digests[name], 0, name]
                    for m in pending
                    for name in marks
                ]
                statements.append((insert_mark, mark_rows))
            await raw.write(*statements)

        what = f"{k} message rows" + (f" + {k * len(marks)} mark rows" if marks else "")
        return Floor(call, setup, f"executemany {what}")

    select_all = f"SELECT {text} FROM {message} WHERE sid = ? ORDER BY seq"

    async def get_all() -> list[Any]:
        return loads_all([r[0] for r in await raw.fetch(select_all, [sid])])

    def get(seqs: list[int]) -> Floor:
        where = f"WHERE sid = ? AND seq IN ({_marks(len(seqs))})"
        sql = f"SELECT {text} FROM {message} {where} ORDER BY seq"

        async def call() -> list[Any]:
            return loads_all([r[0] for r in await raw.fetch(sql, [sid, *seqs])])

        return Floor(call, note=f"fetch {len(seqs)} rows + one json.loads")

    async def size() -> Any:
        return await raw.fetch(f"SELECT count(*) FROM {message} WHERE sid = ?", [sid])

    def delete(k: int) -> Floor:
        pending: list[bytes] = []
        sql = f"DELETE FROM {message} WHERE sid = ? AND mid IN ({_marks(k)})"

        async def setup() -> None:
            msgs = _fresh(corpus, fresh, k)
            await raw.write((insert, encoded(msgs)))
            pending[:] = [id_digest(m.id) for m in msgs]

        async def call() -> None:
            await raw.write((sql, [[sid, *pending]]))

        return Floor(call, setup, f"one DELETE of {k} rows")

    remark = f"UPDATE {mark} SET mk = ?, mark = ? WHERE sid = ? AND mk = ?"

    async def mark_back() -> None:
        await raw.write((remark, [[mark_digests["hint"], "hint", sid, mark_digests["done"]]]))

    async def update_marks() -> None:
        await raw.write((remark, [[mark_digests["done"], "done", sid, mark_digests["hint"]]]))

    return {
        "add_1": add(1, ()),
        "add_100": add(100, ("batch", "tool")),
        "get_all": Floor(get_all, note=f"fetch {n} rows + one json.loads"),
        "get_mark": get(hint),
        "get_exclude_mark": get(rest),
        "get_limit_20": get(last),
        "size": Floor(size, note="SELECT count(*)"),
        "delete_1": delete(1),
        "delete_by_mark_10": delete(10),
        "update_marks_10_percent": Floor(update_marks, mark_back, "one UPDATE of the mark rows"),
    }
