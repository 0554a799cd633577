"""The message cache's next snapshot after a batch this process applied.

A batch that the store reports at the held snapshot's version + 1 was the
only write in between, so the snapshot after it is the held one with the
batch's operations applied in order, as the store applied them: the next
read of the session then moves no payloads. The messages come decoded from
the payloads the batch sent, never the caller's objects.
"""

from __future__ import annotations

from collections.abc import Sequence

from memmark.core.batch import (
    AddOp,
    ClearOp,
    DeleteByMarkOp,
    DeleteOp,
    Operation,
    PopOp,
    SessionStateOp,
    SummaryOp,
    UpdateMarksOp,
    UpsertOp,
)
from memmark.core.cache import Snapshot
from memmark.core.msg import Msg
from memmark.redis._codec import unpack_messages

_NO_MARKS: frozenset[str] = frozenset()


def next_snapshot(
    held: Snapshot, version: int, ops: Sequence[Operation], payloads: Sequence[list[bytes]]
) -> Snapshot:
    """Return ``held`` after ``ops``, at ``version``.

    Args:
        held: The snapshot of the session as the batch began.
        version: The session's version after the batch.
        ops: The batch's operations, in order.
        payloads: Per operation, the payloads it sent (see
            :func:`memmark.redis._batch.operation_arguments`).
    """
    snapshot = held
    for op, sent in zip(ops, payloads, strict=True):
        if isinstance(op, AddOp):
            # Snapshot.added skips stored ids, as the store does.
            weight = sum(map(len, sent))
            snapshot = snapshot.added(version, unpack_messages(sent), op.marks, weight)
        elif isinstance(op, UpsertOp):
            snapshot = upserted(snapshot, version, unpack_messages(sent), op.marks, sent)
        elif isinstance(op, DeleteOp):
            snapshot = snapshot.without(version, op.ids)
        elif isinstance(op, DeleteByMarkOp):
            snapshot = snapshot.without_marks(version, op.marks)
        elif isinstance(op, ClearOp):
            snapshot = Snapshot(version, (), {}, 0)
        elif isinstance(op, UpdateMarksOp):
            snapshot = snapshot.remarked(version, op.new_mark, op.old_mark, op.ids)
        elif isinstance(op, PopOp):
            if snapshot.messages:
                snapshot = snapshot.without(version, [snapshot.messages[-1].id])
        elif not isinstance(op, (SummaryOp, SessionStateOp)):  # pragma: no cover
            raise TypeError(f"unknown operation: {op!r}")
    if snapshot is held:  # only the summary or the state slot: messages unchanged
        snapshot = Snapshot(version, held.messages, held.marks, held.weight, held.ids)
    return snapshot


def upserted(
    held: Snapshot, version: int, msgs: list[Msg], marks: list[str], sent: list[bytes]
) -> Snapshot:
    """Return ``held`` after an upsert of ``msgs`` (distinct ids) with ``marks``.

    A stored message is replaced at its place and keeps its marks; the others
    are appended; every one of them gets ``marks``.
    """
    stored = held.ids
    replacing = {msg.id: msg for msg in msgs if msg.id in stored}
    messages = held.messages
    if replacing:
        messages = tuple(replacing.get(msg.id, msg) for msg in messages)
    fresh = [msg for msg in msgs if msg.id not in stored]
    new_marks = held.marks
    if marks:
        new_marks = dict(new_marks)
        added = frozenset(marks)
        for msg in msgs:
            new_marks[msg.id] = new_marks.get(msg.id, _NO_MARKS) | added
    # The weight is kept as an upper bound: replaced payloads' sizes are not kept.
    return Snapshot(
        version,
        messages + tuple(fresh),
        new_marks,
        held.weight + sum(map(len, sent)),
        stored | {msg.id for msg in fresh} if fresh else stored,
    )
