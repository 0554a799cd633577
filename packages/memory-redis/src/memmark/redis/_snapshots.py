"""The message cache's next snapshot after a batch this process applied.

A batch that the store reports at the held snapshot's version + 1 was the
only write in between, so the snapshot after it is the held one with the
batch's operations applied in order, as the store applied them: the next
read of the session then moves no payloads. The messages come decoded from
the payloads the batch sent, never the caller's objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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

    The operations are applied to one working copy (the messages by id, in
    order, and their marks) made once, and the snapshot is frozen once at the
    end: a batch of seven writes then costs one walk of the session, not one
    per operation.

    Args:
        held: The snapshot of the session as the batch began.
        version: The session's version after the batch.
        ops: The batch's operations, in order.
        payloads: Per operation, the payloads it sent (see
            :func:`memmark.redis._batch.operation_arguments`).
    """
    if all(isinstance(op, (SummaryOp, SessionStateOp)) for op in ops):
        # Only the summary or the state slot: the messages are the held ones.
        return Snapshot(version, held.messages, held.marks, held.weight, held.ids)
    messages: dict[str, Msg] = {msg.id: msg for msg in held.messages}
    marks: dict[str, frozenset[str]] = dict(held.marks)
    weight = held.weight
    for op, sent in zip(ops, payloads, strict=True):
        if isinstance(op, AddOp):
            added = frozenset(op.marks)
            for msg in unpack_messages(sent):
                if msg.id not in messages:  # a stored or repeated id is skipped, as stored
                    messages[msg.id] = msg
                    if added:
                        marks[msg.id] = added
            weight += sum(map(len, sent))
        elif isinstance(op, UpsertOp):
            added = frozenset(op.marks)
            for msg in unpack_messages(sent):
                messages[msg.id] = msg  # a dict keeps a replaced key's place
                if added:
                    marks[msg.id] = marks.get(msg.id, _NO_MARKS) | added
            # An upper bound: replaced payloads' sizes are not kept.
            weight += sum(map(len, sent))
        elif isinstance(op, DeleteOp):
            _drop(messages, marks, op.ids)
        elif isinstance(op, DeleteByMarkOp):
            doomed = frozenset(op.marks)
            _drop(messages, marks, [i for i, m in marks.items() if m & doomed])
        elif isinstance(op, ClearOp):
            messages, marks, weight = {}, {}, 0
        elif isinstance(op, UpdateMarksOp):
            _remark(messages, marks, op)
        elif isinstance(op, PopOp):
            if messages:
                _drop(messages, marks, [next(reversed(messages))])
        elif not isinstance(op, (SummaryOp, SessionStateOp)):  # pragma: no cover
            raise TypeError(f"unknown operation: {op!r}")
    return Snapshot(version, tuple(messages.values()), marks, weight, frozenset(messages))


def _drop(messages: dict[str, Msg], marks: dict[str, frozenset[str]], ids: Iterable[str]) -> None:
    """Remove the messages ``ids`` and their marks from the working copy."""
    for msg_id in ids:
        if messages.pop(msg_id, None) is not None:
            marks.pop(msg_id, None)


def _remark(messages: dict[str, Msg], marks: dict[str, frozenset[str]], op: UpdateMarksOp) -> None:
    """Apply ``update_messages_mark`` to the working copy, as the store does."""
    new, old = op.new_mark, op.old_mark
    selection: Iterable[str] = (
        list(messages) if op.ids is None else [i for i in op.ids if i in messages]
    )
    for msg_id in selection:
        current = marks.get(msg_id, _NO_MARKS)
        if old is not None and old not in current:
            continue
        if new is None and old is None:
            changed: frozenset[str] = _NO_MARKS
        else:
            changed = current - {old} if old is not None else current
            if new is not None:
                changed = changed | {new}
        if changed:
            marks[msg_id] = changed
        else:
            marks.pop(msg_id, None)
