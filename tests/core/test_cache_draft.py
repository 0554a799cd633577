"""A draft and the snapshot methods change a cached session as the store changes it."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Callable

import pytest

from memmark.core import Msg
from memmark.core.cache import MAX_PENDING_EDITS, Draft, Snapshot

MARKS = ["a", "b", "c"]


def _given(msgs: list[Msg]) -> Callable[[], list[Msg]]:
    """What a snapshot calls for messages already made (a backend decodes them then)."""
    return lambda: msgs


def _msg(i: int) -> Msg:
    msg = Msg("u", f"m{i}", "user")
    msg.id = f"id{i}"
    return msg


class _Model:
    """The session as a plain list and marks dict, changed as the store documents."""

    def __init__(self, msgs: list[Msg], marks: dict[str, frozenset[str]]) -> None:
        self.msgs, self.marks = list(msgs), dict(marks)

    def ids(self) -> list[str]:
        return [m.id for m in self.msgs]

    def add(self, msgs: list[Msg], marks: list[str]) -> None:
        for msg in msgs:
            if msg.id not in self.ids():
                self.msgs.append(msg)
                if marks:
                    self.marks[msg.id] = frozenset(marks)

    def upsert(self, msgs: list[Msg], marks: list[str]) -> None:
        for msg in msgs:
            ids = self.ids()
            if msg.id in ids:
                self.msgs[ids.index(msg.id)] = msg
            else:
                self.msgs.append(msg)
            if marks:
                self.marks[msg.id] = self.marks.get(msg.id, frozenset()) | frozenset(marks)

    def drop(self, ids: list[str]) -> None:
        self.msgs = [m for m in self.msgs if m.id not in ids]
        self.marks = {i: m for i, m in self.marks.items() if i not in ids}

    def remark(self, new: str | None, old: str | None, ids: list[str] | None) -> None:
        for msg_id in self.ids() if ids is None else [i for i in ids if i in self.ids()]:
            current = self.marks.get(msg_id, frozenset())
            if old is not None and old not in current:
                continue
            changed = frozenset() if new is None and old is None else current - {old}
            changed = changed | {new} if new is not None else changed
            if changed:
                self.marks[msg_id] = changed
            else:
                self.marks.pop(msg_id, None)


def _state(snapshot: Snapshot) -> tuple[list[tuple[str, object]], dict[str, frozenset[str]]]:
    return [(m.id, m.content) for m in snapshot.messages], dict(snapshot.marks)


@pytest.mark.parametrize("seed", range(40))
def test_a_draft_and_the_snapshot_methods_change_a_session_as_the_store_does(seed: int) -> None:
    rng = random.Random(seed)
    first = [_msg(i) for i in range(8)]
    held = Snapshot(1, {}, {}, 0).added(1, _given(first), ["a"], 10)
    model = _Model(first, {m.id: frozenset("a") for m in first})
    by_methods, draft = held, Draft(held)
    for step in range(12):
        kind = rng.choice(["add", "upsert", "drop", "drop_marked", "remark", "pop", "clear"])
        ids = [f"id{rng.randrange(12)}" for _ in range(rng.randrange(1, 4))]
        marks = rng.sample(MARKS, rng.randrange(0, 3))
        if kind == "add":
            msgs = [_msg(int(i[2:])) for i in ids]
            by_methods = by_methods.added(2, _given(msgs), marks, 5)
            draft.add(msgs, marks)
            model.add(msgs, marks)
        elif kind == "upsert":
            msgs = [_msg(int(i[2:]) + 100 * step) for i in dict.fromkeys(ids)]
            for msg, msg_id in zip(msgs, dict.fromkeys(ids), strict=True):
                msg.id = msg_id
            draft.upsert(msgs, marks)
            model.upsert(msgs, marks)
            by_methods = Snapshot.of(2, model.msgs, dict(model.marks), 0)
        elif kind == "drop":
            by_methods = by_methods.without(2, ids)
            draft.drop(ids)
            model.drop(ids)
        elif kind == "drop_marked" and marks:
            by_methods = by_methods.without_marks(2, marks)
            draft.drop_marked(marks)
            model.drop([i for i, m in model.marks.items() if m & set(marks)])
        elif kind == "remark":
            new, old = rng.choice([None, *MARKS]), rng.choice([None, *MARKS])
            if new is not None and new == old:
                continue
            chosen = None if rng.random() < 0.3 else ids
            by_methods = by_methods.remarked(2, new, old, chosen)
            draft.remark(new, old, chosen)
            model.remark(new, old, chosen)
        elif kind == "pop":
            if model.msgs:
                by_methods = by_methods.without(2, [model.msgs[-1].id])
                model.drop([model.msgs[-1].id])
            draft.pop_newest()
        elif kind == "clear" and rng.random() < 0.2:
            by_methods = Snapshot(2, {}, {}, 0)
            draft.clear()
            model = _Model([], {})
        assert _state(by_methods) == ([(m.id, m.content) for m in model.msgs], model.marks)
    frozen = Snapshot(2, *draft.contents(), 0)
    assert _state(frozen) == _state(by_methods)
    assert by_methods.version == 2
    assert _state(held) == (
        [(f"id{i}", f"m{i}") for i in range(8)],
        {f"id{i}": frozenset("a") for i in range(8)},
    )


def test_a_draft_that_changed_no_message_shares_the_held_messages() -> None:
    held = Snapshot.of(3, [_msg(1)], {"id1": frozenset("a")}, 7)
    by_id, marks = Draft(held).contents()
    assert by_id is held.by_id
    assert marks is held.marks
    at = held.at(4)
    assert (at.by_id, at.marks, at.version, at.weight) == (held.by_id, held.marks, 4, 7)


def test_writes_stack_up_unapplied_until_a_read_and_leave_earlier_snapshots_as_they_were() -> None:
    first = Snapshot.of(1, [_msg(i) for i in range(3)], {}, 30)
    snapshots = [first]
    for n in range(3 * MAX_PENDING_EDITS):  # past the bound: some apply on the way
        snapshots.append(
            snapshots[-1].added(n + 2, _given([_msg(100 + n)]), ["m"] if n % 2 else [], 10)
        )
    snapshots.append(snapshots[-1].without(1000, ["id0", "id101"]))
    last = snapshots[-1]
    assert (last.version, last.weight) == (1000, 30 + 10 * 3 * MAX_PENDING_EDITS)
    expected = ["id1", "id2", "id100"] + [f"id{100 + n}" for n in range(2, 3 * MAX_PENDING_EDITS)]
    assert [m.id for m in last.select(None, None, None)] == expected
    newest_marked = [f"id{100 + n}" for n in (3 * MAX_PENDING_EDITS - 3, 3 * MAX_PENDING_EDITS - 1)]
    assert [m.id for m in last.select("m", None, 2)] == newest_marked
    assert sorted(last.marks) == sorted(f"id{100 + n}" for n in range(3, 3 * MAX_PENDING_EDITS, 2))
    # Every snapshot still reads as it was made, read before or after the last.
    for n, snapshot in enumerate(snapshots[1:-1]):
        assert [m.id for m in snapshot.select(None, None, None)][-1] == f"id{100 + n}"
        assert len(snapshot.by_id) == 3 + n + 1
    assert [m.id for m in first.select(None, None, None)] == ["id0", "id1", "id2"]


Seen = list[tuple[list[str], dict[str, frozenset[str]]]]


def _visit(pending: Snapshot, start: threading.Barrier, seen: Seen, chain: bool) -> None:
    """Read ``pending`` with the other threads at once, or first chain a write onto it."""
    start.wait()
    if chain:
        after = pending.without(4, ["id1"])  # chains onto the pending edits
        seen.append((["id1", *(m.id for m in after.select(None, None, None))], dict(after.marks)))
    else:
        seen.append(([m.id for m in pending.select(None, None, None)], pending.marks))


def test_threads_reading_one_pending_snapshot_at_once_all_see_its_writes() -> None:
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        for round_ in range(100):
            base = Snapshot.of(1, [_msg(i) for i in range(200)], {}, 0)
            pending = base.added(2, _given([_msg(1000 + round_)]), ["new"], 1).without(3, ["id0"])
            expected = [f"id{i}" for i in range(1, 200)] + [f"id{1000 + round_}"]
            start = threading.Barrier(8)
            seen: Seen = []

            threads = [
                threading.Thread(target=_visit, args=(pending, start, seen, n % 2 == 0))
                for n in range(8)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert seen == [(expected, {f"id{1000 + round_}": frozenset({"new"})})] * 8
    finally:
        sys.setswitchinterval(old_interval)
