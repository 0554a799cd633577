"""The message cache's next snapshot after a batch this process applied.

A batch that the store reports at the held snapshot's version + 1 was the
only write in between, so the snapshot after it is the held one with the
batch's operations applied in order, as the store applied them: the next
read of the session then moves no payloads. The messages come decoded from
the payloads the batch sent, never the caller's objects, when the snapshot
is first read (a message added and removed before then is never decoded).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from memmark.core import batch as ops
from memmark.core.cache import Draft, Snapshot
from memmark.redis._codec import unpack_messages


def next_snapshot(
    held: Snapshot,
    version: int,
    operations: Sequence[ops.Operation],
    payloads: Sequence[list[bytes]],
) -> Snapshot:
    """Return ``held`` after ``operations``, at ``version``, applied at its first read.

    Args:
        held: The snapshot of the session as the batch began.
        version: The session's version after the batch.
        operations: The batch's operations, in order.
        payloads: Per operation, the payloads it sent (see
            :func:`memmark.redis._batch.operation_arguments`).
    """
    added = sum(len(payload) for sent in payloads for payload in sent)
    return held.edited(version, partial(_apply, operations, payloads), held.weight + added)


def _apply(
    operations: Sequence[ops.Operation], payloads: Sequence[list[bytes]], draft: Draft
) -> None:
    for op, sent in zip(operations, payloads, strict=True):
        if isinstance(op, ops.AddOp):
            draft.add(unpack_messages(sent), op.marks)
        elif isinstance(op, ops.UpsertOp):
            draft.upsert(unpack_messages(sent), op.marks)
        elif isinstance(op, ops.DeleteOp):
            draft.drop(op.ids)
        elif isinstance(op, ops.DeleteByMarkOp):
            draft.drop_marked(op.marks)
        elif isinstance(op, ops.ClearOp):
            draft.clear()
        elif isinstance(op, ops.UpdateMarksOp):
            draft.remark(op.new_mark, op.old_mark, op.ids)
        elif isinstance(op, ops.PopOp):
            draft.pop_newest()
        elif not isinstance(op, (ops.SummaryOp, ops.SessionStateOp)):  # pragma: no cover
            raise TypeError(f"unknown operation: {op!r}")
