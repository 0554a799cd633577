"""The timed operations, defined once for the pytest-benchmark suites and the peer comparison.

Each :class:`Operation` is one row of every table: a timed call on a
:class:`Side` (a memory and the corpus its messages come from), an untimed
setup before each call that keeps the session at its size, and an untimed
finish that puts the session back as it was filled. The same operation runs
on memmark and on the peer (whose memories have the same method names).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from benchmarks.corpus import Corpus, fill, fresh_indices


@dataclass
class Side:
    """One memory under test.

    Attributes:
        memory: memmark's memory or the peer's.
        msg_cls: The message class its messages are made with.
        corpus: Where its messages come from.
        size: Messages in the session once filled.
        native_limit: Whether ``get_memory`` takes ``limit`` (the peer's does not).
    """

    memory: Any
    msg_cls: Any
    corpus: Corpus
    size: int = 0
    native_limit: bool = True
    pending: Any = None
    _fresh: Iterator[int] = field(default_factory=fresh_indices)

    def fresh(self, n: int) -> list[Any]:
        """Return ``n`` new messages, never in the session before."""
        return [self.corpus.message(self.msg_cls, next(self._fresh)) for _ in range(n)]

    async def fill(self, n: int) -> None:
        """Fill the session with corpus messages ``0..n-1`` and their marks (untimed)."""
        await fill(self.memory, self.corpus.session(self.msg_cls, n))
        self.size = n


Step = Callable[[Side], Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    """One timed operation of the contract.

    Attributes:
        name: The row's name in tables.
        slug: Its name in test ids.
        call: The timed call.
        setup: Untimed work before each call.
        finish: Untimed work after the last call, restoring the session.
        expect: What the call returns on memmark, given the session's size
            (``None``: not checked).
        reads: Whether the call only reads (so repeats need no setup).
    """

    name: str
    slug: str
    call: Step
    setup: Step | None = None
    finish: Step | None = None
    expect: Callable[[int], Any] | None = None
    reads: bool = False


# -- add ------------------------------------------------------------------------------


async def _add_one_setup(side: Side) -> None:
    # The message added by the previous call goes, so the session keeps its size.
    if side.pending is not None:
        await side.memory.delete([side.pending.id])
    side.pending = side.fresh(1)[0]


async def _add_one(side: Side) -> Any:
    return await side.memory.add(side.pending)


async def _add_one_finish(side: Side) -> None:
    if side.pending is not None:
        await side.memory.delete([side.pending.id])
        side.pending = None


async def _add_batch_setup(side: Side) -> None:
    await side.memory.delete_by_mark("batch")
    side.pending = side.fresh(100)


async def _add_batch(side: Side) -> Any:
    return await side.memory.add(side.pending, marks=["batch", "tool"])


async def _add_batch_finish(side: Side) -> None:
    await side.memory.delete_by_mark("batch")
    side.pending = None


# -- read -----------------------------------------------------------------------------


async def _get_all(side: Side) -> Any:
    return await side.memory.get_memory()


async def _get_mark(side: Side) -> Any:
    return await side.memory.get_memory(mark="hint")


async def _get_exclude(side: Side) -> Any:
    return await side.memory.get_memory(exclude_mark="hint")


async def _get_last_20(side: Side) -> Any:
    if side.native_limit:
        return await side.memory.get_memory(limit=20)
    # The peer has no limit: it reads everything and keeps the newest 20.
    return list(await side.memory.get_memory())[-20:]


async def _size(side: Side) -> Any:
    return await side.memory.size()


# -- delete and re-mark -------------------------------------------------------------------


async def _delete_one_setup(side: Side) -> None:
    message = side.fresh(1)[0]
    await side.memory.add(message, marks="tool")
    side.pending = message.id


async def _delete_one(side: Side) -> Any:
    return await side.memory.delete([side.pending])


async def _clear_pending(side: Side) -> None:
    side.pending = None


async def _delete_by_mark_setup(side: Side) -> None:
    await side.memory.add(side.fresh(10), marks="doomed")


async def _delete_by_mark(side: Side) -> Any:
    return await side.memory.delete_by_mark("doomed")


async def _mark_back(side: Side) -> None:
    await side.memory.update_messages_mark("hint", old_mark="done")


async def _remark(side: Side) -> Any:
    return await side.memory.update_messages_mark("done", old_mark="hint")


OPERATIONS: tuple[Operation, ...] = (
    Operation("add 1", "add_1", _add_one, _add_one_setup, _add_one_finish),
    Operation("add 100 (2 marks)", "add_100", _add_batch, _add_batch_setup, _add_batch_finish),
    Operation("get_memory all", "get_all", _get_all, expect=lambda n: n, reads=True),
    Operation("get_memory mark", "get_mark", _get_mark, expect=lambda n: n // 10, reads=True),
    Operation(
        "get_memory exclude_mark",
        "get_exclude_mark",
        _get_exclude,
        expect=lambda n: n - n // 10,
        reads=True,
    ),
    Operation("get_memory limit=20", "get_limit_20", _get_last_20, expect=lambda n: 20, reads=True),
    Operation("size", "size", _size, expect=lambda n: n, reads=True),
    Operation("delete 1", "delete_1", _delete_one, _delete_one_setup, _clear_pending, lambda n: 1),
    Operation(
        "delete_by_mark (10 msgs)",
        "delete_by_mark_10",
        _delete_by_mark,
        _delete_by_mark_setup,
        expect=lambda n: 10,
    ),
    Operation(
        "update_messages_mark (10 %)",
        "update_marks_10_percent",
        _remark,
        _mark_back,
        _mark_back,
        expect=lambda n: n // 10,
    ),
)
"""Every operation of the contract that a benchmark times, in table order."""

BY_SLUG: dict[str, Operation] = {op.slug: op for op in OPERATIONS}


def outcome(result: Any) -> Any:
    """Return what :attr:`Operation.expect` compares: a length for a list, else the value."""
    return len(result) if isinstance(result, list) else result
