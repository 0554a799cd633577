"""Writes as values: the operations a batch carries, and the batch that carries them.

Every write of the contract has an operation here, already checked and
normalised by the core. A backend's ``_apply`` hook receives a list of them
and applies it as one unit: all or nothing, in order, in one transaction or
one script run. The public methods of :class:`~memmark.core.MemoryBase` that
write build one operation each (through the ``*_op`` functions below), so a
method and its batch counterpart accept exactly the same arguments.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from memmark.core import checks, values
from memmark.core.errors import DuplicateMessageError, MessageTooLargeError
from memmark.core.msg import Msg

if TYPE_CHECKING:
    from memmark.core.base import MemoryBase


@dataclass(frozen=True, slots=True)
class AddOp:
    """``add``: append ``msgs`` (ids distinct among themselves) with ``marks``.

    With ``skip_duplicated`` false the backend raises
    :class:`~memmark.core.errors.DuplicateMessageError` for ids the session
    held when the batch began; the core has already refused ids added by an
    earlier operation of the same batch.
    """

    msgs: list[Msg]
    marks: list[str]
    skip_duplicated: bool


@dataclass(frozen=True, slots=True)
class UpsertOp:
    """``upsert``: replace stored ids in place, append the others; ``marks`` added to all.

    ``msgs`` holds each id once: the core keeps the last of repeated ids, at
    the first one's place in the order.
    """

    msgs: list[Msg]
    marks: list[str]


@dataclass(frozen=True, slots=True)
class DeleteOp:
    """``delete``: remove the messages ``ids`` (distinct, never empty)."""

    ids: list[str]


@dataclass(frozen=True, slots=True)
class DeleteByMarkOp:
    """``delete_by_mark``: remove every message carrying any of ``marks``."""

    marks: list[str]


@dataclass(frozen=True, slots=True)
class ClearOp:
    """``clear``: remove every message and mark; the summary and session state stay."""


@dataclass(frozen=True, slots=True)
class UpdateMarksOp:
    """``update_messages_mark``, as :meth:`~memmark.core.MemoryBase.update_messages_mark` says."""

    new_mark: str | None
    old_mark: str | None
    ids: list[str] | None


@dataclass(frozen=True, slots=True)
class SummaryOp:
    """``update_compressed_summary``: store ``summary`` (``""`` removes it)."""

    summary: str


@dataclass(frozen=True, slots=True)
class SessionStateOp:
    """``set_session_state``: store the session's state slot, as JSON text.

    ``text`` is ``None`` to remove the slot. The core has checked and encoded
    the document; a backend stores the text as it is.
    """

    text: str | None


@dataclass(frozen=True, slots=True)
class PopOp:
    """``pop``: remove the newest message with its marks, and return it."""


Operation: TypeAlias = (
    AddOp
    | UpsertOp
    | DeleteOp
    | DeleteByMarkOp
    | ClearOp
    | UpdateMarksOp
    | SummaryOp
    | SessionStateOp
    | PopOp
)
"""A checked write, as a backend's ``_apply`` receives it.

What applying each returns: ``AddOp`` ``None``; ``UpsertOp`` how many of its
messages replaced a stored one; ``DeleteOp`` and ``DeleteByMarkOp`` how many
were removed; ``ClearOp`` ``None``; ``UpdateMarksOp`` how many messages' mark
sets changed; ``SummaryOp`` and ``SessionStateOp`` ``None``; ``PopOp`` the
removed ``Msg`` or ``None`` when the session was empty.
"""


@dataclass(frozen=True)
class BatchResult:
    """What a batch did.

    Attributes:
        results: One result per operation recorded, in order, each what the
            method of the same name returns. Empty when ``replayed``.
        version: The session's version after the batch (after the first
            run, for a replayed batch: the version now).
        replayed: The batch's ``batch_id`` had been applied before, so
            nothing was written this time.
    """

    results: list[Any]
    version: int
    replayed: bool = False


# -- building operations from public arguments -------------------------------


def add_op(
    memories: object,
    marks: object,
    skip_duplicated: object,
    max_bytes: int | None,
    *,
    copy: bool = False,
) -> AddOp | None:
    """Check ``add``'s arguments; ``None`` when there is nothing to add.

    With ``copy``, the operation holds copies of the messages, made in the
    walk that checks them (see :func:`~memmark.core.checks.check_messages`).
    """
    msgs = checks.check_messages(memories, max_bytes, copy=copy)
    mark_list = checks.check_marks(marks, "marks")
    skip = checks.check_bool(skip_duplicated, "skip_duplicated")
    if not msgs:
        return None
    if not skip:
        repeated = checks.find_duplicates(msgs)
        if repeated:
            raise DuplicateMessageError(repeated)
    return AddOp(msgs, mark_list, skip)


def upsert_op(
    memories: object, marks: object, max_bytes: int | None, *, copy: bool = False
) -> UpsertOp | None:
    """Check ``upsert``'s arguments; ``None`` when there is nothing to write.

    ``copy`` as for :func:`add_op`.
    """
    msgs = checks.check_messages(memories, max_bytes, copy=copy)
    mark_list = checks.check_marks(marks, "marks")
    if not msgs:
        return None
    if len(msgs) > 1:
        # The last message of an id wins, at the place of the first.
        last = {m.id: m for m in msgs}
        if len(last) != len(msgs):
            msgs = list(last.values())
    return UpsertOp(msgs, mark_list)


def delete_op(msg_ids: object) -> DeleteOp | None:
    """Check ``delete``'s ids; ``None`` when there are none."""
    ids = checks.check_ids(msg_ids, "msg_ids")
    return DeleteOp(ids) if ids else None


def delete_by_mark_op(mark: object) -> DeleteByMarkOp | None:
    """Check ``delete_by_mark``'s marks; ``None`` for an empty list."""
    if mark is None:
        raise TypeError("mark: expected a str or a list of str, got NoneType")
    marks = checks.check_marks(mark, "mark")
    return DeleteByMarkOp(marks) if marks else None


def update_marks_op(new_mark: object, old_mark: object, msg_ids: object) -> UpdateMarksOp | None:
    """Check ``update_messages_mark``'s arguments; ``None`` when no mark set can change."""
    new = checks.check_optional_mark(new_mark, "new_mark")
    old = checks.check_optional_mark(old_mark, "old_mark")
    ids = None if msg_ids is None else checks.check_ids(msg_ids, "msg_ids")
    if (ids is not None and not ids) or (new is not None and new == old):
        return None  # nothing selected, or a mark removed and added back
    return UpdateMarksOp(new, old, ids)


def session_state_op(state: object, max_bytes: int | None) -> SessionStateOp:
    """Check a session state document and encode it.

    Raises:
        TypeError: ``state`` is neither a ``dict`` nor ``None``.
        ValueError: It holds a value a message could not hold (see
            :mod:`memmark.core.values`).
        MessageTooLargeError: Its JSON is larger than ``max_bytes``.
    """
    if state is None:
        return SessionStateOp(None)
    if not isinstance(state, dict):
        raise TypeError(f"state: expected a dict or None, got {type(state).__name__}")
    values.check_value(state, "state")
    text = json.dumps(state, ensure_ascii=False, separators=(",", ":"))
    if max_bytes is not None and len(text) > max_bytes // 4:
        size = len(text.encode())
        if size > max_bytes:
            raise MessageTooLargeError(
                f"state: {size} bytes as JSON, more than max_message_bytes ({max_bytes})"
            )
    return SessionStateOp(text)


def decode_session_state(text: str | None) -> dict[str, Any] | None:
    """Return the document a :class:`SessionStateOp`'s text stands for."""
    if text is None:
        return None
    state: dict[str, Any] = json.loads(text)
    return state


def check_batch(ops: list[Operation]) -> None:
    """Refuse, before any I/O, a non-skipping add of an id an earlier operation writes.

    Raises:
        DuplicateMessageError: With those ids; nothing is written.
    """
    written: set[str] = set()
    for op in ops:
        if isinstance(op, AddOp):
            if not op.skip_duplicated:
                taken = [m.id for m in op.msgs if m.id in written]
                if taken:
                    raise DuplicateMessageError(taken)
            written.update(m.id for m in op.msgs)
        elif isinstance(op, UpsertOp):
            written.update(m.id for m in op.msgs)


def check_expect_version(expect_version: object) -> int | None:
    """Return ``expect_version`` if it is ``None`` or a version (an ``int`` >= 0)."""
    if expect_version is None:
        return None
    if not isinstance(expect_version, int) or isinstance(expect_version, bool):
        raise TypeError(
            f"expect_version: expected an int or None, got {type(expect_version).__name__}"
        )
    if expect_version < 0:
        raise ValueError(f"expect_version: must be >= 0, got {expect_version}")
    return int(expect_version)


def check_batch_id(batch_id: object) -> str | None:
    """Return ``batch_id`` if it is ``None`` or a non-empty ``str`` every store can hold."""
    if batch_id is None:
        return None
    text = checks.check_text(batch_id, "batch_id")
    if not text:
        raise ValueError("batch_id: must not be empty")
    return text


# -- the batch ---------------------------------------------------------------


class Batch:
    """Writes recorded now and applied later as one unit, by :meth:`commit`.

    Make one with :meth:`MemoryBase.batch() <memmark.core.MemoryBase.batch>`.
    Each method checks its arguments as the memory's method of the same name
    does (raising at once, before anything is sent) and returns the batch, so
    calls chain. ``commit`` applies every recorded write in order, atomically:
    all of them or, on any error, none. Used as ``async with``, the batch
    commits when the block ends without an exception, and the result is then
    in :attr:`result`.

    Attributes:
        result: The :class:`BatchResult` of the commit; ``None`` before it.
    """

    def __init__(
        self, memory: MemoryBase, expect_version: int | None = None, batch_id: str | None = None
    ) -> None:
        self._memory = memory
        self._expect_version = check_expect_version(expect_version)
        self._batch_id = check_batch_id(batch_id)
        self._entries: list[Any] = []  # an Operation, or the answer to a call that writes nothing
        self._committed = False
        self.result: BatchResult | None = None

    def _record(self, op: Operation | None, answer: Any = None) -> Batch:
        if self._committed:
            raise RuntimeError("this batch was committed; make another with memory.batch()")
        # A call with nothing to write is answered here: kept as (answer,).
        self._entries.append((answer,) if op is None else op)
        return self

    def add(
        self,
        memories: Msg | list[Msg] | None,
        marks: str | list[str] | None = None,
        *,
        skip_duplicated: bool = True,
    ) -> Batch:
        """Record an ``add`` (see :meth:`MemoryBase.add <memmark.core.MemoryBase.add>`)."""
        # A batch applies its messages when it commits, not now: it keeps
        # copies, checked as they are now, so that a message the caller
        # changes in between is not stored as changed, past the checks.
        max_bytes = self._memory.max_message_bytes
        return self._record(add_op(memories, marks, skip_duplicated, max_bytes, copy=True))

    def upsert(
        self, memories: Msg | list[Msg] | None, marks: str | list[str] | None = None
    ) -> Batch:
        """Record an ``upsert`` (see :meth:`MemoryBase.upsert <memmark.core.MemoryBase.upsert>`)."""
        max_bytes = self._memory.max_message_bytes
        return self._record(upsert_op(memories, marks, max_bytes, copy=True), 0)  # copies: see add

    def delete(self, msg_ids: str | Iterable[str]) -> Batch:
        """Record a ``delete``."""
        return self._record(delete_op(msg_ids), 0)

    def delete_by_mark(self, mark: str | list[str]) -> Batch:
        """Record a ``delete_by_mark``."""
        return self._record(delete_by_mark_op(mark), 0)

    def clear(self) -> Batch:
        """Record a ``clear``."""
        return self._record(ClearOp())

    def update_messages_mark(
        self,
        new_mark: str | None,
        old_mark: str | None = None,
        msg_ids: str | Iterable[str] | None = None,
    ) -> Batch:
        """Record an ``update_messages_mark``."""
        return self._record(update_marks_op(new_mark, old_mark, msg_ids), 0)

    def update_compressed_summary(self, summary: str) -> Batch:
        """Record an ``update_compressed_summary``."""
        return self._record(SummaryOp(checks.check_summary(summary)))

    def set_session_state(self, state: dict[str, Any] | None) -> Batch:
        """Record a ``set_session_state``."""
        return self._record(session_state_op(state, self._memory.max_message_bytes))

    def pop(self) -> Batch:
        """Record a ``pop``; its result is the removed message or ``None``."""
        return self._record(PopOp())

    async def commit(self) -> BatchResult:
        """Apply every recorded write, in order, as one unit.

        Returns:
            What each write returned, and the session's version after them.

        Raises:
            VersionConflictError: The batch carries ``expect_version`` and the
                session is at another version; nothing was written.
            DuplicateMessageError: An ``add`` with ``skip_duplicated=False``
                met an id taken; nothing was written.
            RuntimeError: The batch was committed already. (A commit that
                raised may be called again: with a ``batch_id``, a batch whose
                first commit reached the store only replays.)
        """
        if self._committed:
            raise RuntimeError("this batch was committed; make another with memory.batch()")
        ops: list[Operation] = [e for e in self._entries if type(e) is not tuple]
        applied = await self._memory._run_batch(ops, self._expect_version, self._batch_id)
        # Only now: a commit that raised (a lost connection, a conflict) may
        # be tried again, and with a batch_id it still applies at most once.
        self._committed = True
        if applied.replayed:
            self.result = applied
            return applied
        results = iter(applied.results)
        merged = [e[0] if type(e) is tuple else next(results) for e in self._entries]
        self.result = BatchResult(merged, applied.version)
        return self.result

    async def __aenter__(self) -> Batch:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if exc_type is None and not self._committed:
            await self.commit()
