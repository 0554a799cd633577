"""A draft applies a batch's writes in one walk and freezes to what the snapshot methods give."""

from __future__ import annotations

import random

import pytest

from memmark.core import Msg
from memmark.core.cache import Draft, Snapshot

MARKS = ["a", "b", "c"]


def _msg(i: int) -> Msg:
    msg = Msg("u", f"m{i}", "user")
    msg.id = f"id{i}"
    return msg


def _state(snapshot: Snapshot) -> tuple[list[tuple[str, object]], dict[str, frozenset[str]]]:
    return [(m.id, m.content) for m in snapshot.messages], dict(snapshot.marks)


@pytest.mark.parametrize("seed", range(40))
def test_a_draft_freezes_to_the_snapshot_methods_result(seed: int) -> None:
    rng = random.Random(seed)
    held = Snapshot(1, (), {}, 0).added(1, [_msg(i) for i in range(8)], ["a"], 10)
    expected, draft = held, Draft(held)
    for step in range(12):
        kind = rng.choice(["add", "upsert", "drop", "drop_marked", "remark", "pop", "clear"])
        ids = [f"id{rng.randrange(12)}" for _ in range(rng.randrange(1, 4))]
        marks = rng.sample(MARKS, rng.randrange(0, 3))
        if kind == "add":
            msgs = [_msg(int(i[2:])) for i in ids]
            expected = expected.added(2, msgs, marks, 5)
            draft.add(msgs, marks, 5)
        elif kind == "upsert":
            msgs = list({i: _msg(int(i[2:]) + 100 * step) for i in ids}.values())
            for msg, msg_id in zip(msgs, dict.fromkeys(ids), strict=True):
                msg.id = msg_id
            fresh = [m for m in msgs if m.id not in expected.ids]
            replaced = {m.id: m for m in msgs if m.id in expected.ids}
            new_marks = dict(expected.marks)
            for m in msgs:
                if marks:
                    new_marks[m.id] = new_marks.get(m.id, frozenset()) | frozenset(marks)
            expected = Snapshot(
                2,
                tuple(replaced.get(m.id, m) for m in expected.messages) + tuple(fresh),
                new_marks,
                expected.weight + 5,
            )
            draft.upsert(msgs, marks, 5)
        elif kind == "drop":
            expected = expected.without(2, ids)
            draft.drop(ids)
        elif kind == "drop_marked" and marks:
            expected = expected.without_marks(2, marks)
            draft.drop_marked(marks)
        elif kind == "remark":
            new, old = rng.choice([None, *MARKS]), rng.choice([None, *MARKS])
            if new is not None and new == old:
                continue
            chosen = None if rng.random() < 0.3 else ids
            expected = expected.remarked(2, new, old, chosen)
            draft.remark(new, old, chosen)
        elif kind == "pop":
            if expected.messages:
                expected = expected.without(2, [expected.messages[-1].id])
            draft.pop_newest()
        elif kind == "clear" and rng.random() < 0.2:
            expected = Snapshot(2, (), {}, 0)
            draft.clear()
    frozen = draft.freeze(2)
    assert _state(frozen) == _state(expected)
    assert frozen.ids == expected.ids
    assert frozen.version == 2
    assert _state(held) == (
        [(f"id{i}", f"m{i}") for i in range(8)],
        {f"id{i}": frozenset("a") for i in range(8)},
    )


def test_a_draft_that_changed_no_message_shares_the_held_messages() -> None:
    held = Snapshot(3, (_msg(1),), {"id1": frozenset("a")}, 7)
    frozen = Draft(held).freeze(4)
    assert frozen.messages is held.messages
    assert frozen.marks is held.marks
    assert (frozen.version, frozen.weight) == (4, 7)
