"""The work of contract v2's calls: a batch in one transaction, a page in one statement.

A batch's operations are encoded by the memory (:func:`plan_batch`) before
any connection is taken, into steps that each reuse the work of the
single-call writes in :mod:`memmark.sql._operations` (the same SQL; only
``upsert`` and ``pop`` have statements of their own). :func:`apply` then
runs, in the one transaction the
:class:`~memmark.sql._connection.Connector` opened: the session row's lock,
the replay check, the ``expect_version`` check, the duplicate check of the
non-skipping adds, every step in order, and the batch id's row. Any error
raised on the way rolls the transaction back, so a batch is all or nothing,
and a batch the connector runs again after a deadlock runs whole again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from memmark.core import DuplicateMessageError, Msg
from memmark.core import batch as core
from memmark.core.cache import Draft
from memmark.core.errors import VersionConflictError
from memmark.sql import _operations as ops
from memmark.sql._batch_statements import PageKey
from memmark.sql._codec import decode_messages, dumps, loads, to_msgs
from memmark.sql._mysql import check_text_fits, row_sizes
from memmark.sql._schema import id_digest
from memmark.sql._statements import MARK_PARAMS, MAX_IN, MAX_PARAMS, MESSAGE_PARAMS, Statements

Step = Callable[[AsyncConnection, Statements], Awaitable[Any]]
"""One operation's work in the batch's transaction; returns the operation's result."""
Effect = Callable[[Draft, Any], None]
"""One operation's change to the draft of a cached snapshot: (draft, result) -> None."""


class Replayed(Exception):
    """Raised in a batch's transaction when its id was applied: rolls back what it began.

    Attributes:
        version: The session's version, as the batch found it.
    """

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


@dataclass
class Plan:
    """A batch, encoded: what :func:`apply` runs.

    Attributes:
        sid: The session digest.
        session: The session row's values (``Connector.bump_params``).
        expect_version: The version the session must be at, or ``None``.
        batch_id: The batch's id, or ``None``.
        checked: Each non-skipping add's (id digests, ids), in order.
        steps: Each operation's work, in order.
        effects: Each operation's change to a cached snapshot, in order.
        added_bytes: The bodies the batch adds or upserts, in bytes (what the
            cached snapshot after it may weigh more).
    """

    sid: bytes
    session: dict[str, Any]
    expect_version: int | None
    batch_id: str | None
    checked: list[tuple[list[bytes], list[str]]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    added_bytes: int = 0


# -- encoding ---------------------------------------------------------------------------


def accept_any(values: Iterable[str], arg: str) -> None:
    """Accept every id and mark: the database holds any text (not PostgreSQL, see below)."""


def check_no_nul(values: Iterable[str], arg: str) -> None:
    for value in values:
        if "\x00" in value:
            raise ValueError(
                f"{arg}: PostgreSQL text cannot hold NUL (\\x00), so it cannot be in an id "
                f"or a mark here (got {value!r:.60})"
            )


def _encoded(msgs: Sequence[Msg]) -> tuple[list[bytes], list[str], list[str]]:
    """The id digests, ids and JSON bodies of ``msgs``, the first of an id kept."""
    mids: list[bytes] = []
    ids: list[str] = []
    bodies: list[str] = []
    seen: set[str] = set()
    for msg in msgs:
        if msg.id not in seen:
            seen.add(msg.id)
            mids.append(id_digest(msg.id))
            ids.append(msg.id)
            bodies.append(dumps(msg.to_dict()))
    return mids, ids, bodies


def plan_batch(
    batch_ops: list[core.Operation],
    plan: Plan,
    max_packet: int | None,
    check_text: Callable[[Sequence[str], str], None],
) -> Plan:
    """Encode ``batch_ops`` into ``plan``'s steps and cache effects.

    Args:
        batch_ops: The checked operations.
        plan: The plan to fill (its session, checks and batch id set).
        max_packet: MariaDB's largest statement, ``None`` elsewhere: rows
            are then sized, and a too large one refused, before any I/O.
        check_text: Refuses ids and marks the database cannot hold (NUL on
            PostgreSQL), given the texts and the argument's name.
    """
    sid = plan.sid
    for op in batch_ops:
        if isinstance(op, core.AddOp | core.UpsertOp):
            mids, ids, bodies = _encoded(op.msgs)
            check_text(ids, "memories")
            check_text(op.marks, "marks")
            sizes = [] if max_packet is None else row_sizes(max_packet, ids, bodies, "memories")
            plan.added_bytes += sum(map(len, bodies))
            if isinstance(op, core.AddOp):
                if not op.skip_duplicated:
                    plan.checked.append((mids, ids))
                # Duplicates were refused up front: the add itself skips.
                encoded = ops.Batch(sid, mids, ids, bodies, op.marks, True, sizes)
                plan.steps.append(partial(ops.add, batch=encoded))
                plan.effects.append(partial(_added, bodies, op.marks))
            else:
                plan.steps.append(
                    partial(upsert, sid=sid, batch=(mids, ids, bodies, sizes), marks=op.marks)
                )
                plan.effects.append(partial(_upserted, bodies, op.marks))
        elif isinstance(op, core.DeleteOp):
            keys = [id_digest(i) for i in op.ids]
            plan.steps.append(partial(ops.delete_ids, sid=sid, keys=keys))
            plan.effects.append(partial(_without, op.ids))
        elif isinstance(op, core.DeleteByMarkOp):
            keys = [id_digest(k) for k in op.marks]
            plan.steps.append(partial(ops.delete_by_mark, sid=sid, keys=keys))
            plan.effects.append(partial(_without_marks, op.marks))
        elif isinstance(op, core.ClearOp):
            plan.steps.append(partial(ops.clear, sid=sid))
            plan.effects.append(_cleared)
        elif isinstance(op, core.UpdateMarksOp):
            if op.new_mark is not None:
                check_text([op.new_mark], "new_mark")
            mids_or_none = None if op.ids is None else [id_digest(i) for i in op.ids]
            plan.steps.append(
                partial(
                    ops.update_marks,
                    sid=sid,
                    new_mark=op.new_mark,
                    old_mark=op.old_mark,
                    mids=mids_or_none,
                )
            )
            plan.effects.append(partial(_remarked, op.new_mark, op.old_mark, op.ids))
        elif isinstance(op, core.SummaryOp):
            names = ("sid", "user_id", "session_id")
            row = {**{name: plan.session[name] for name in names}, "summary": dumps(op.summary)}
            if max_packet is not None:
                check_text_fits(max_packet, row["summary"], "summary")
            plan.steps.append(partial(ops.upsert_summary, row=row))
            plan.effects.append(_unchanged)
        elif isinstance(op, core.SessionStateOp):
            if max_packet is not None and op.text is not None:
                check_text_fits(max_packet, op.text, "state")
            plan.steps.append(partial(set_state, sid=sid, text=op.text))
            plan.effects.append(_unchanged)
        else:
            plan.steps.append(partial(pop, sid=sid))
            plan.effects.append(_popped)
    return plan


# -- the transaction ----------------------------------------------------------------------


async def apply(conn: AsyncConnection, statements: Statements, plan: Plan) -> tuple[list[Any], int]:
    """Run the batch ``plan`` in the connection's transaction (see the module's docstring).

    Returns:
        Each operation's result, and the session's version after the batch.

    Raises:
        Replayed: The batch id was applied before (nothing is written).
        VersionConflictError: The session is not at ``plan.expect_version``.
        DuplicateMessageError: A non-skipping add met ids stored.
    """
    v2 = statements.v2
    sid = plan.sid
    # The lock, and the version before (negative: no session yet).
    found = int((await conn.execute(v2.lock, plan.session)).scalar_one())
    before = max(found, 0)
    if plan.batch_id is not None:
        bid = id_digest(plan.batch_id)
        if (await conn.execute(v2.seen, {"sid": sid, "bid": bid})).first() is not None:
            raise Replayed(before)
    if plan.expect_version is not None and plan.expect_version != before:
        raise VersionConflictError(plan.expect_version, before)
    await conn.execute(v2.bump, {"b_sid": sid, "b_uid": plan.session["uid"]})
    after = -found if found < 0 else found + 1
    if plan.checked:
        stored = await stored_seqs(
            conn, statements, sid, [m for mids, _ in plan.checked for m in mids]
        )
        for mids, ids in plan.checked:
            taken = [i for m, i in zip(mids, ids, strict=True) if m in stored]
            if taken:
                raise DuplicateMessageError(taken)
    results = [await step(conn, statements) for step in plan.steps]
    if plan.batch_id is not None:
        params = {"sid": sid, "bid": id_digest(plan.batch_id), "batch_id": plan.batch_id}
        await conn.execute(v2.remember, params)
    return results, after


async def stored_seqs(
    conn: AsyncConnection, statements: Statements, sid: bytes, mids: Sequence[bytes]
) -> dict[bytes, int]:
    """The seq of each stored message among the id digests ``mids``."""
    stored: dict[bytes, int] = {}
    for chunk in ops.chunks(mids, MAX_IN):
        for mid, seq in await conn.execute(statements.v2.stored, {"sid": sid, "mids": chunk}):
            stored[bytes(mid)] = int(seq)
    return stored


async def upsert(
    conn: AsyncConnection,
    statements: Statements,
    sid: bytes,
    batch: tuple[list[bytes], list[str], list[str], list[int]],
    marks: list[str],
) -> int:
    """Replace the stored messages in place (seq and marks kept), insert the others.

    Every message written gets ``marks``. Returns how many were replaced.
    """
    mids, ids, bodies, sizes = batch
    v2 = statements.v2
    stored = await stored_seqs(conn, statements, sid, mids)
    replaced = [
        {"b_sid": sid, "b_mid": m, "b_msg": b}
        for m, b in zip(mids, bodies, strict=True)
        if m in stored
    ]
    for chunk in ops.chunks(replaced, MAX_PARAMS // MESSAGE_PARAMS):
        await conn.execute(v2.replace_message, chunk)
    rows: list[dict[str, Any]] = []
    new_sizes: list[int] = []
    for index, (mid, msg_id, body) in enumerate(zip(mids, ids, bodies, strict=True)):
        if mid not in stored:
            rows.append({"sid": sid, "mid": mid, "msg_id": msg_id, "msg": body})
            if sizes:
                new_sizes.append(sizes[index])
    inserted = await ops.insert_returning(conn, statements, rows, new_sizes) if rows else []
    if marks:
        keys = [(id_digest(mark), mark) for mark in marks]
        written = [*stored.items(), *((bytes(mid), int(seq)) for seq, mid in inserted)]
        mark_rows: list[dict[str, Any]] = [
            {"sid": sid, "mid": mid, "mk": mk, "mark": text, "seq": seq}
            for mid, seq in written
            for mk, text in keys
        ]
        for marks_chunk in ops.chunks(mark_rows, MAX_PARAMS // MARK_PARAMS):
            await conn.execute(v2.add_marks, marks_chunk)
    return len(replaced)


async def pop(conn: AsyncConnection, statements: Statements, sid: bytes) -> Msg | None:
    """Remove the newest message with its marks; return it, ``None`` in an empty session."""
    row = (await conn.execute(statements.v2.newest, {"sid": sid})).first()
    if row is None:
        return None
    await ops.delete_ids(conn, statements, sid, [bytes(row[0])])
    return to_msgs([loads(row[1])])[0]


async def set_state(
    conn: AsyncConnection, statements: Statements, sid: bytes, text: str | None
) -> None:
    """Store the state slot's JSON text (``None`` unsets it)."""
    v2 = statements.v2
    if text is None:
        await conn.execute(v2.unset_state, {"b_sid": sid})
    else:
        await conn.execute(v2.set_state, {"b_sid": sid, "b_state": text})


# -- reads --------------------------------------------------------------------------------


async def read_page(
    conn: AsyncConnection, statements: Statements, key: PageKey, params: dict[str, Any]
) -> list[Any]:
    """The rows of one page's statement (see ``BatchStatements.page``)."""
    return list((await conn.execute(statements.v2.page(key), params)).all())


async def read_by_ids(
    conn: AsyncConnection, statements: Statements, sid: bytes, mids: list[bytes]
) -> list[Any]:
    """The ``(seq, body)`` of the stored messages among ``mids``."""
    rows: list[Any] = []
    for chunk in ops.chunks(mids, MAX_IN):
        rows.extend(await conn.execute(statements.v2.by_ids, {"sid": sid, "mids": chunk}))
    return rows


async def read_state(conn: AsyncConnection, statements: Statements, sid: bytes) -> str | None:
    """The state slot's JSON text, ``None`` when unset or without a session."""
    found: str | None = (await conn.execute(statements.v2.state, {"sid": sid})).scalar()
    return found


# -- the cache's side of each operation ------------------------------------------------


def _added(bodies: list[str], marks: list[str], draft: Draft, _: Any) -> None:
    draft.add(decode_messages(bodies), marks)


def _upserted(bodies: list[str], marks: list[str], draft: Draft, _: Any) -> None:
    draft.upsert(decode_messages(bodies), marks)


def cache_edit(effects: list[Effect], results: list[Any]) -> Callable[[Draft], None]:
    """Return the batch's change to a cached snapshot, to apply at its first read.

    A popped message is the caller's from now on (the batch returns it), so
    only its id, taken now, goes with the change.
    """
    kept = [result.id if isinstance(result, Msg) else result for result in results]

    def edit(draft: Draft) -> None:
        for effect, result in zip(effects, kept, strict=True):
            effect(draft, result)

    return edit


def _without(ids: list[str], draft: Draft, _: Any) -> None:
    draft.drop(ids)


def _without_marks(marks: list[str], draft: Draft, _: Any) -> None:
    draft.drop_marked(marks)


def _cleared(draft: Draft, _: Any) -> None:
    draft.clear()


def _remarked(
    new: str | None, old: str | None, ids: list[str] | None, draft: Draft, _: Any
) -> None:
    draft.remark(new, old, ids)


def _unchanged(draft: Draft, _: Any) -> None:
    """The summary or the state slot: nothing of the messages changes."""


def _popped(draft: Draft, popped_id: str | None) -> None:
    if popped_id is not None:
        draft.drop([popped_id])
