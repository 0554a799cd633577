"""The plain model the state machine compares a backend with, and the writes it knows."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from memmark.core.batch import Batch
from memmark.core.msg import Msg

WriteOp = tuple[Any, ...]
"""A write as the machine draws it: its name, then its arguments.

``("add", msgs, marks, skip)``, ``("upsert", msgs, marks)``, ``("delete", ids)``,
``("delete_by_mark", marks)``, ``("update", new, old, ids)``, ``("clear",)``,
``("summary", text)``, ``("state", document)``, ``("pop",)``.
"""


@dataclass
class Model:
    """What a session should hold: messages in order, their marks, the summary, the state slot.

    And what it has shown of its version: the last one (``0`` before any
    write and after ``delete_session``), every one seen, whether the
    session exists (is listed), and the batch ids it has applied.
    """

    msgs: dict[str, dict[str, Any]] = field(default_factory=dict)
    marks: dict[str, set[str]] = field(default_factory=dict)
    summary: str = ""
    state: dict[str, Any] | None = None
    version: int = 0
    versions: set[int] = field(default_factory=set)
    exists: bool = False
    batch_ids: set[str] = field(default_factory=set)

    def copy_content(self) -> Model:
        """Return a model with a copy of this one's content, for a write that may be undone."""
        return Model(
            dict(self.msgs),
            {i: set(m) for i, m in self.marks.items()},
            self.summary,
            copy.deepcopy(self.state),
        )

    def take_content(self, other: Model) -> None:
        """Take ``other``'s content (messages, marks, summary, state slot)."""
        self.msgs, self.marks = other.msgs, other.marks
        self.summary, self.state = other.summary, other.state

    def select(self, old_mark: str | None, ids: list[str] | None) -> list[str]:
        """Return the ids ``update_messages_mark`` selects."""
        chosen = [i for i in self.msgs if ids is None or i in ids]
        return [i for i in chosen if old_mark is None or old_mark in self.marks[i]]

    def read(self, mark: str | None, exclude: str | None, limit: int | None) -> list[str]:
        """Return the ids ``get_memory`` reads."""
        out = self.selection(mark, exclude)
        if limit is not None:
            out = out[max(0, len(out) - limit) :] if limit else []
        return out

    def selection(self, mark: str | None, exclude: str | None) -> list[str]:
        """Return the ids carrying ``mark`` (if given) and not ``exclude`` (if given), in order."""
        return [
            i
            for i in self.msgs
            if (mark is None or mark in self.marks[i])
            and (exclude is None or exclude not in self.marks[i])
        ]

    def page(
        self,
        limit: int,
        before: str | None,
        after: str | None,
        mark: str | None,
        exclude: str | None,
    ) -> tuple[list[str], bool]:
        """Return the ids and ``has_more`` of ``get_page`` (cursors must be stored)."""
        order = list(self.msgs)
        chosen = self.selection(mark, exclude)
        if after is not None:
            newer = [i for i in chosen if order.index(i) > order.index(after)]
            return newer[:limit], len(newer) > limit
        if before is not None:
            chosen = [i for i in chosen if order.index(i) < order.index(before)]
        return chosen[max(0, len(chosen) - limit) :], len(chosen) > limit

    # -- writes ---------------------------------------------------------------

    def apply(self, op: WriteOp) -> Any:
        """Apply one write (duplicates already ruled out); return what the method returns."""
        kind, *args = op
        if kind == "add":
            msgs, marks, _ = args
            for m in msgs:
                if m.id not in self.msgs:
                    self.msgs[m.id] = m.to_dict()
                    self.marks[m.id] = set(marks)
            return None
        if kind == "upsert":
            return self._upsert(*args)
        if kind == "delete":
            return self._remove([i for i in self.msgs if i in args[0]])
        if kind == "delete_by_mark":
            return self._remove([i for i in self.msgs if self.marks[i] & set(args[0])])
        if kind == "update":
            return self.update_marks(*args)
        if kind == "clear":
            self.msgs.clear()
            self.marks.clear()
        elif kind == "summary":
            self.summary = args[0]
        elif kind == "state":
            self.state = copy.deepcopy(args[0])
        elif kind == "pop":
            if not self.msgs:
                return None
            newest = list(self.msgs)[-1]
            popped = self.msgs[newest]
            self._remove([newest])
            return popped
        return None

    def _upsert(self, msgs: list[Msg], marks: list[str]) -> int:
        last = {m.id: m for m in msgs}
        replaced = sum(i in self.msgs for i in last)
        for msg_id, m in last.items():
            self.msgs[msg_id] = m.to_dict()
            self.marks[msg_id] = self.marks.get(msg_id, set()) | set(marks)
        return replaced

    def _remove(self, ids: list[str]) -> int:
        for i in ids:
            del self.msgs[i], self.marks[i]
        return len(ids)

    def update_marks(self, new: str | None, old: str | None, ids: list[str] | None) -> int:
        """Re-mark as ``update_messages_mark`` does; return how many mark sets changed."""
        changed = 0
        for i in self.select(old, ids):
            before = set(self.marks[i])
            after = set(before)
            if new is not None:
                after.discard(old)
                after.add(new)
            elif old is not None:
                after.discard(old)
            else:
                after.clear()
            changed += after != before
            self.marks[i] = after
        return changed


def is_no_op(op: WriteOp) -> bool:
    """Whether the core answers ``op`` itself, sending nothing (nothing to add, no ids)."""
    kind = op[0]
    if kind in ("add", "upsert", "delete"):
        return not op[1]
    if kind == "update":
        new, old, ids = op[1:]
        return ids == [] or (new is not None and new == old)
    return False


NO_OP_ANSWERS = {"add": None, "upsert": 0, "delete": 0, "update": 0}
"""What a batch reports for a write the core answers itself."""


def record(batch: Batch, op: WriteOp) -> None:
    """Record ``op`` on ``batch``."""
    kind, *args = op
    if kind == "add":
        batch.add(args[0], args[1] or None, skip_duplicated=args[2])
    elif kind == "upsert":
        batch.upsert(args[0], args[1] or None)
    elif kind == "delete":
        batch.delete(args[0])
    elif kind == "delete_by_mark":
        batch.delete_by_mark(args[0])
    elif kind == "update":
        batch.update_messages_mark(*args)
    elif kind == "clear":
        batch.clear()
    elif kind == "summary":
        batch.update_compressed_summary(args[0])
    elif kind == "state":
        batch.set_session_state(args[0])
    else:
        batch.pop()


def duplicate_in_batch(ops: list[WriteOp], stored: dict[str, Any]) -> tuple[bool, bool]:
    """Whether a non-skipping add meets an id: written earlier in the batch, or stored.

    Returns:
        ``(early, at_store)``: refused by the core before any I/O, and
        refused by the store against the session as the batch began.
    """
    written: set[str] = set()
    early = at_store = False
    for op in ops:
        if op[0] == "add":
            ids = [m.id for m in op[1]]
            if not op[3]:
                early = early or any(i in written for i in ids)
                at_store = at_store or any(i in stored for i in ids)
            written.update(ids)
        elif op[0] == "upsert":
            written.update(m.id for m in op[1])
    return early, at_store
