"""A batch's operations as the ``apply`` script reads them, and its results back.

The layout of each operation (a one-byte code, then its arguments) is the
``ARGV`` block of ``lua/apply.lua``'s header; this module is the only place
that writes it, and the only one that reads the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memmark.core import BatchResult, DuplicateMessageError, Msg, VersionConflictError
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
from memmark.redis._codec import decode_text, encode_text, pack_message, unpack_messages
from memmark.redis._replies import ApplyReply

_NO_RESULT = (AddOp, ClearOp, SummaryOp, SessionStateOp)
"""Operations whose result is ``None`` (the script answers 0 for them)."""


def _messages(args: list[bytes], marks: list[str], msgs: list[Msg]) -> list[bytes]:
    """Append a mark list, then the messages' ids and payloads; return the payloads."""
    args.append(b"%d" % len(marks))
    args += [encode_text(mark) for mark in marks]
    args.append(b"%d" % len(msgs))
    args += [encode_text(msg.id) for msg in msgs]
    payloads = [pack_message(msg) for msg in msgs]
    args += payloads
    return payloads


def operation_arguments(
    ops: Sequence[Operation], payloads: list[list[bytes]] | None = None
) -> list[bytes]:
    """Return the ``ARGV`` of ``ops`` for ``apply``, after its three fixed arguments.

    Args:
        ops: The batch's operations.
        payloads: When given, gets one list per operation: the payloads an
            add or upsert sends (none for the others), so that the message
            cache can decode copies of its own without packing them again.
    """
    args: list[bytes] = []
    for op in ops:
        sent: list[bytes] = []
        if isinstance(op, AddOp):
            args += (b"a", b"0" if op.skip_duplicated else b"1")
            sent = _messages(args, op.marks, op.msgs)
        elif isinstance(op, UpsertOp):
            args.append(b"u")
            sent = _messages(args, op.marks, op.msgs)
        elif isinstance(op, DeleteOp):
            args += (b"d", b"%d" % len(op.ids))
            args += [encode_text(msg_id) for msg_id in op.ids]
        elif isinstance(op, DeleteByMarkOp):
            args += (b"m", b"%d" % len(op.marks))
            args += [encode_text(mark) for mark in op.marks]
        elif isinstance(op, ClearOp):
            args.append(b"c")
        elif isinstance(op, UpdateMarksOp):
            ids = op.ids or []
            args += (
                b"r",
                b"" if op.new_mark is None else encode_text(op.new_mark),
                b"" if op.old_mark is None else encode_text(op.old_mark),
                b"0" if op.ids is None else b"1",
                b"%d" % len(ids),
            )
            args += [encode_text(msg_id) for msg_id in ids]
        elif isinstance(op, SummaryOp):
            args += (b"s", encode_text(op.summary))
        elif isinstance(op, SessionStateOp):
            args += (b"j", b"" if op.text is None else encode_text(op.text))
        elif isinstance(op, PopOp):
            args.append(b"p")
        else:  # pragma: no cover - the core makes only the operations above
            raise TypeError(f"unknown operation: {op!r}")
        if payloads is not None:
            payloads.append(sent)
    return args


def idempotent(ops: Sequence[Operation], expect_version: int | None, batch_id: str | None) -> bool:
    """Whether applying ``ops`` twice does what applying them once does.

    A second run would pop a second message, fail its version check, or
    answer "replayed" without the results, so none of those is resent.
    """
    return (
        expect_version is None and batch_id is None and not any(isinstance(op, PopOp) for op in ops)
    )


def operation_results(ops: Sequence[Operation], replies: Sequence[Any]) -> list[Any]:
    """Return what each operation's method returns, from the script's results."""
    results: list[Any] = []
    for op, reply in zip(ops, replies, strict=True):
        if isinstance(op, _NO_RESULT):
            results.append(None)
        elif isinstance(op, PopOp):
            results.append(None if reply is None else unpack_messages([reply])[0])
        else:
            results.append(int(reply))
    return results


def batch_result(
    ops: Sequence[Operation], reply: ApplyReply, expect_version: int | None
) -> BatchResult:
    """Return what ``apply``'s reply says the batch did, or raise why it wrote nothing.

    Raises:
        VersionConflictError: The session was not at ``expect_version``.
        DuplicateMessageError: A refusing add met stored ids.
    """
    if reply.status == 0:
        return BatchResult(operation_results(ops, reply.results), reply.version)
    if reply.status == 1:
        return BatchResult([], reply.version, replayed=True)
    if reply.status == 2:
        assert expect_version is not None  # the script checks only a version given
        raise VersionConflictError(expect_version, reply.version)
    raise DuplicateMessageError([decode_text(msg_id) for msg_id in reply.taken])
