"""The work of each call, given a connection and the statements.

Each function here is one call's work on a connection the
:class:`~memmark.sql._connection.Connector` chose, in the transaction it
opened; it runs statements and returns what they returned. Encoding the
arguments before and decoding the rows after happen outside, in the memory,
so no connection is held for either. The functions that take a ``driver``
run PostgreSQL's SQL text (asyncpg's or SQLAlchemy's connection); the
others run Core statements on every database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from memmark.core import DuplicateMessageError
from memmark.sql._connection import Driver
from memmark.sql._mysql import PACKET_MARGIN
from memmark.sql._postgres import ARRAY_ROWS, PostgresStatements, exclude_rows
from memmark.sql._schema import id_digest
from memmark.sql._statements import (
    MARK_PARAMS,
    MAX_IN,
    MAX_PARAMS,
    MESSAGE_PARAMS,
    ReadKey,
    Statements,
)

_T = TypeVar("_T")
_by_seq = itemgetter(1)
_first = itemgetter(0)
# (digest, text) of each mark a message gets, by the message's id digest.
MarksOf = Mapping[bytes, Sequence[tuple[bytes, str]]]


def chunks(items: Sequence[_T], size: int) -> Iterable[Sequence[_T]]:
    """Cut ``items`` into lists of at most ``size``; nothing for no items."""
    if not items:
        return  # executing with no rows is an error in SQLAlchemy
    if len(items) <= size:
        yield items
        return
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def cut(
    items: Sequence[_T], size: int, weights: Sequence[int], budget: int | None
) -> Iterable[Sequence[_T]]:
    """Cut ``items`` into lists of at most ``size`` whose ``weights`` add up to at most ``budget``.

    With no weights or no budget, by count only (see :func:`chunks`). An item
    heavier than ``budget`` alone gets a list of its own (the caller refused
    it before).
    """
    if not weights or budget is None:
        yield from chunks(items, size)
        return
    start = total = 0
    for end, weight in enumerate(weights):
        if end > start and (end - start == size or total + weight > budget):
            yield items[start:end]
            start, total = end, 0
        total += weight
    if start < len(items):
        yield items[start:]


def packet_budget(statements: Statements) -> int | None:
    """The bytes a statement's rows may take on the server, ``None`` for no limit."""
    if statements.max_packet is None:
        return None
    return statements.max_packet - PACKET_MARGIN


@dataclass(frozen=True)
class Batch:
    """The messages of one add, encoded, each id once (the first wins).

    Attributes:
        sid: The session digest.
        mids: The id digests.
        msg_ids: The ids.
        bodies: ``Msg.to_dict()`` of each, as JSON text.
        marks: The marks every message gets.
        skip_duplicated: Skip ids already stored (else refuse the call).
        sizes: The bytes each message row takes in a statement, where the
            server limits a statement's size and the rows may not all fit
            one; else empty.
    """

    sid: bytes
    mids: list[bytes]
    msg_ids: list[str]
    bodies: list[str]
    marks: list[str]
    skip_duplicated: bool
    sizes: list[int] = field(default_factory=list)

    def message_rows(self) -> list[dict[str, Any]]:
        """The message rows, as the Core inserts take them."""
        sid = self.sid
        return [
            {"sid": sid, "mid": mid, "msg_id": msg_id, "msg": body}
            for mid, msg_id, body in zip(self.mids, self.msg_ids, self.bodies, strict=True)
        ]

    def check_taken(self, inserted: set[bytes]) -> None:
        """Refuse the call when ids were taken and duplicates are not skipped.

        Raising rolls the transaction back: nothing of the call stays.
        """
        if not self.skip_duplicated and len(inserted) < len(self.mids):
            taken = [i for m, i in zip(self.mids, self.msg_ids, strict=True) if m not in inserted]
            raise DuplicateMessageError(taken)


# -- add ------------------------------------------------------------------------------


async def insert_returning(
    conn: AsyncConnection, statements: Statements, rows: list[dict[str, Any]], sizes: list[int]
) -> list[Any]:
    """Insert message rows in chunks, skipping taken ids; return ``(seq, mid)`` of those added.

    A chunk is bounded by parameters, and by bytes where the server limits a
    statement's size (``sizes``, see :class:`Batch`).
    """
    inserted: list[Any] = []
    budget = packet_budget(statements)
    for chunk in cut(rows, MAX_PARAMS // MESSAGE_PARAMS, sizes, budget):
        inserted.extend(await conn.execute(statements.insert_messages_returning, chunk))
    return inserted


async def insert_marks(
    conn: AsyncConnection, statements: Statements, sid: bytes, inserted: list[Any], marks: MarksOf
) -> None:
    """Insert the marks of the messages ``inserted`` (``(seq, mid)`` rows)."""
    rows = [
        {"sid": sid, "mid": mid, "mk": mk, "mark": text, "seq": seq}
        for seq, mid in inserted
        for mk, text in marks[mid]
    ]
    for chunk in chunks(rows, MAX_PARAMS // MARK_PARAMS):
        await conn.execute(statements.insert_marks, chunk)


async def add(conn: AsyncConnection, statements: Statements, batch: Batch) -> None:
    """Add ``batch``: the messages (skipping taken ids), then the marks of those inserted."""
    rows = batch.message_rows()
    if not batch.marks and batch.skip_duplicated:
        budget = packet_budget(statements)
        for chunk in cut(rows, MAX_PARAMS // MESSAGE_PARAMS, batch.sizes, budget):
            await conn.execute(statements.insert_messages, chunk)
        return
    inserted = await insert_returning(conn, statements, rows, batch.sizes)
    batch.check_taken({mid for _, mid in inserted})
    keys = [(id_digest(mark), mark) for mark in batch.marks]
    await insert_marks(conn, statements, batch.sid, inserted, dict.fromkeys(batch.mids, keys))


async def add_arrays(
    driver: Driver, statements: PostgresStatements, batch: Batch, session: Sequence[Any]
) -> int:
    """PostgreSQL's add: one statement per chunk of rows (see ``add_sql``).

    ``session``: the session row's values (``Connector.bump_args``). Returns
    the session's version the last chunk wrote.
    """
    mks = [id_digest(mark) for mark in batch.marks]
    inserted: set[bytes] = set()
    version = 0
    for start in range(0, len(batch.mids), ARRAY_ROWS):
        end = start + ARRAY_ROWS
        rows = await driver.fetch(
            statements.add_sql,
            *session,
            batch.mids[start:end],
            batch.msg_ids[start:end],
            batch.bodies[start:end],
            mks,
            batch.marks,
        )
        for mid, written in rows:
            if mid is None:
                version = written
            else:
                inserted.add(mid)
    batch.check_taken(inserted)
    return int(version)


# -- delete ---------------------------------------------------------------------------


async def _collect(
    conn: AsyncConnection, statement: Any, sid: bytes, name: str, keys: Sequence[bytes]
) -> list[bytes]:
    """Run ``statement`` per chunk of ``keys`` (parameter ``name``); gather what it returns."""
    found: list[bytes] = []
    for chunk in chunks(keys, MAX_IN):
        found.extend((await conn.execute(statement, {"sid": sid, name: chunk})).scalars())
    return found


async def _drop_marks_of(
    conn: AsyncConnection, statements: Statements, sid: bytes, gone: list[bytes]
) -> int:
    for chunk in chunks(gone, MAX_IN):
        await conn.execute(statements.delete_marks_of, {"sid": sid, "mids": chunk})
    return len(gone)


async def delete_ids(
    conn: AsyncConnection, statements: Statements, sid: bytes, keys: Sequence[bytes]
) -> int:
    """Delete the messages of the id digests ``keys``, then the marks of those removed."""
    gone = await _collect(conn, statements.delete_messages_by_id, sid, "mids", keys)
    return await _drop_marks_of(conn, statements, sid, gone)


async def delete_by_mark(
    conn: AsyncConnection, statements: Statements, sid: bytes, keys: Sequence[bytes]
) -> int:
    """Delete the messages carrying any of the mark digests ``keys``, then their marks."""
    if statements.carriers_first:
        carriers = await _collect(conn, statements.carriers, sid, "mks", keys)
        return await delete_ids(conn, statements, sid, sorted(set(carriers)))
    gone = await _collect(conn, statements.delete_messages_by_mark, sid, "mks", keys)
    return await _drop_marks_of(conn, statements, sid, gone)


async def delete_script(
    conn: Any,
    statements: PostgresStatements,
    sid: bytes,
    keys: list[bytes],
    by_mark: bool,
    session: Sequence[Any],
) -> tuple[int, int]:
    """PostgreSQL's delete on asyncpg, after the session row (see ``delete_script``).

    Returns the count removed and the session's version.
    """
    version = await conn.fetchval(statements.bump_sql, *session)
    tag: str = await conn.execute(statements.delete_script(sid, keys, by_mark=by_mark))
    return int(tag.rsplit(" ", 1)[1]), int(version)  # "SELECT n": one row per message removed


async def clear(conn: AsyncConnection, statements: Statements, sid: bytes) -> None:
    """Delete every message and mark of the session."""
    await conn.execute(statements.clear_messages, {"sid": sid})
    await conn.execute(statements.clear_marks, {"sid": sid})


# -- marks and summary ----------------------------------------------------------------


async def update_marks(
    conn: AsyncConnection,
    statements: Statements,
    sid: bytes,
    new_mark: str | None,
    old_mark: str | None,
    mids: list[bytes] | None,
) -> int:
    """Re-mark the session's messages, or those of ``mids``; return how many changed.

    Set-based: at most two statements per chunk of ids, never one per message.
    """
    remark = statements.remark_session if mids is None else statements.remark_ids
    params: dict[str, Any] = {"sid": sid}
    if new_mark is not None:
        params.update(new_mk=id_digest(new_mark), new_mark=new_mark)
    if old_mark is not None:
        params["old_mk"] = id_digest(old_mark)
    chunked = [params] if mids is None else [{**params, "mids": c} for c in chunks(mids, MAX_IN)]
    changed = 0
    for chunk in chunked:
        if old_mark is not None:
            if new_mark is not None:
                await conn.execute(remark.copy_mark, chunk)
            # Every carrier of old_mark loses it: that is the change.
            changed += (await conn.execute(remark.drop_mark, chunk)).rowcount
        elif new_mark is not None:
            changed += (await conn.execute(remark.add_mark, chunk)).rowcount
        else:
            result = await conn.execute(remark.drop_all_marks, chunk)
            changed += len(set(result.scalars()))
    return changed


async def upsert_summary(
    conn: AsyncConnection, statements: Statements, row: dict[str, Any]
) -> None:
    """Store the session row ``row`` with its summary."""
    await conn.execute(statements.upsert_summary, row)


async def replace(
    conn: AsyncConnection,
    statements: Statements,
    rows: list[dict[str, Any]],
    marks: MarksOf,
    summary_row: dict[str, Any],
    sizes: list[int],
    state: str | None = None,
) -> None:
    """Replace the session with the message ``rows``, their ``marks``, the summary and state.

    ``sizes``: the rows' bytes where the server limits a statement (see :class:`Batch`).
    ``state``: the state slot's JSON text, ``None`` to unset it.
    """
    sid = summary_row["sid"]
    await clear(conn, statements, sid)
    inserted = await insert_returning(conn, statements, rows, sizes)
    await insert_marks(conn, statements, sid, inserted, marks)
    await conn.execute(statements.upsert_summary, summary_row)
    if state is None:
        await conn.execute(statements.v2.unset_state, {"b_sid": sid})
    else:
        await conn.execute(statements.v2.set_state, {"b_sid": sid, "b_state": state})


async def delete_session(
    conn: AsyncConnection, statements: Statements, sid: bytes, session: Mapping[str, Any]
) -> bool:
    """Delete the session's row, messages, marks and batch ids; return whether there were any.

    The row goes first: it is the session's lock (see ``Statements.bump``),
    so a write under way commits before, and is deleted with the rest. Where
    a delete would not wait for a write making the row, the row is locked
    (made if need be) first (``Statements.lock_session``). ``session``: the
    session row's values (``Connector.bump_params``).
    """
    made = False
    if statements.lock_session is not None:
        made = bool((await conn.execute(statements.lock_session, session)).scalar_one())
    row = (await conn.execute(statements.delete_session_row, {"sid": sid})).first()
    messages = (await conn.execute(statements.clear_messages, {"sid": sid})).rowcount
    await conn.execute(statements.clear_marks, {"sid": sid})
    await conn.execute(statements.v2.forget, {"sid": sid})
    if made:
        row = None  # the row was this call's own
    if row is not None and row[0] is not None:
        await _outlast(conn, statements, int(row[0]), int(row[1]))
    return bool(row is not None or messages)


_MOST_WAITED_US = 100_000
"""How far behind a session's last version the clock may be for a delete to wait (0.1 s)."""


async def _outlast(conn: AsyncConnection, statements: Statements, version: int, now: int) -> None:
    """Hold the session's lock until the database clock is past ``version``.

    A session written again starts at the clock (see ``Statements.bump``),
    and a reader may still hold any version the deleted one had: on SQLite,
    whose clock moves by the millisecond, several writes fit in one tick, so
    without the wait the new session would repeat them. Elsewhere the clock
    is already past, and nothing waits. A clock more than
    :data:`_MOST_WAITED_US` behind was set back: waiting for it would hold
    the lock as long, so the delete does not wait.
    """
    if version - now > _MOST_WAITED_US:
        return
    while now <= version:
        await asyncio.sleep(0.0005)
        now = int((await conn.execute(statements.clock_us)).scalar_one())


# -- versions and listing ----------------------------------------------------------------


async def version(conn: AsyncConnection, statements: Statements, sid: bytes) -> int:
    """The session's version, ``0`` without a row."""
    found = (await conn.execute(statements.version, {"sid": sid})).scalar()
    return 0 if found is None else int(found)


async def version_text(driver: Driver, statements: PostgresStatements, sid: bytes) -> int:
    """PostgreSQL's read of the session's version, ``0`` without a row."""
    rows = await driver.fetch(statements.version_sql, sid)
    return int(rows[0][0]) if rows else 0


async def probe(conn: AsyncConnection, statements: Statements, sid: bytes) -> Any:
    """The session row's ``(version, summary)``, or ``None`` without a row."""
    return (await conn.execute(statements.probe, {"sid": sid})).first()


async def probe_text(driver: Driver, statements: PostgresStatements, sid: bytes) -> Any:
    """PostgreSQL's read of the session row's ``(version, summary)``, ``None`` without one."""
    rows = await driver.fetch(statements.probe_sql, sid)
    return rows[0] if rows else None


async def snapshot(conn: AsyncConnection, statements: Statements, sid: bytes) -> list[Any]:
    """The whole session's rows ``(seq, body, mark, version)``, in one statement."""
    rows = list((await conn.execute(statements.snapshot, {"sid": sid})).all())
    rows.sort(key=_first)  # a UNION has no order; seq 0 is the session row
    return rows


async def snapshot_text(driver: Driver, statements: PostgresStatements, sid: bytes) -> list[Any]:
    """PostgreSQL's read of the whole session, ordered (see ``snapshot_sql``)."""
    return list(await driver.fetch(statements.snapshot_sql, sid))


async def list_sessions(
    conn: AsyncConnection, statements: Statements, params: dict[str, Any], cursor: bool
) -> list[Any]:
    """The candidates of one listing page (see ``Statements.listing``)."""
    stmt = statements.listing("uid" in params, cursor)
    return list((await conn.execute(stmt, params)).all())


# -- reads ----------------------------------------------------------------------------


async def size_text(driver: Driver, statements: PostgresStatements, sid: bytes) -> int:
    """PostgreSQL's count of the session's messages."""
    return int((await driver.fetch(statements.size_sql, sid))[0][0])


async def size(conn: AsyncConnection, statements: Statements, sid: bytes) -> int:
    """The count of the session's messages."""
    return int((await conn.execute(statements.size, {"sid": sid})).scalar_one())


async def read_text(
    driver: Driver, statements: PostgresStatements, key: ReadKey, args: list[Any]
) -> list[Any]:
    """PostgreSQL's ``get_memory`` rows, ``(body, seq)``, in order, the summary first."""
    rows = list(await driver.fetch(statements.read_sql(key), *args))
    if key.exclude:
        return exclude_rows(rows, args[-1] if key.limit else None)
    return rows


async def read(
    conn: AsyncConnection, statements: Statements, key: ReadKey, params: dict[str, Any]
) -> list[Any]:
    """The ``get_memory`` rows, ``(body, seq)``, in order, the summary (seq 0) first."""
    rows = list((await conn.execute(statements.read(key), params)).all())
    if key.summary:
        rows.sort(key=_by_seq)  # a UNION has no order; seq 0 is the summary
    elif key.limit:
        rows.reverse()  # read newest first to apply the limit
    return rows


async def export(conn: AsyncConnection, statements: Statements, sid: bytes) -> list[Any]:
    """The export rows ``(seq, body, mark)``, in one statement, so one snapshot."""
    return list((await conn.execute(statements.export, {"sid": sid})).all())
