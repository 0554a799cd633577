"""What the pytest-benchmark suites share: a filled session per backend, and one timed test.

A suite parametrises a module-scoped :class:`Session` over backends, shapes
and sizes, and times every :data:`~benchmarks.operations.OPERATIONS` on it
with :func:`time_operation`. Calls are driven synchronously (an event loop
of the session's own, or none at all for the in-process memory, which never
suspends), so pytest-benchmark times whole calls, round trips included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from benchmarks.corpus import Corpus
from benchmarks.operations import Operation, Side, outcome


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends and return its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the coroutine suspended")


class Session:
    """One memory filled with ``size`` corpus messages, and the means to drive its calls.

    Args:
        memory: The memory under test.
        msg_cls: Its message class.
        shape: The corpus shape (``"agent"`` or ``"plain"``).
        size: Messages to fill the session with.
        loop: The event loop to run calls on; ``None`` drives them directly.
    """

    def __init__(
        self,
        memory: Any,
        msg_cls: Any,
        shape: str,
        size: int,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.loop = loop
        self.side = Side(memory, msg_cls, Corpus(shape))
        self.run(self.side.fill(size))

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` to its end and return its result."""
        if self.loop is None:
            return drive(coro)
        return self.loop.run_until_complete(coro)


def params(shapes_sizes: list[tuple[str, int]]) -> dict[str, Any]:
    """Keyword arguments of a ``pytest.fixture`` over (shape, size) pairs, with readable ids."""
    return {"params": shapes_sizes, "ids": [f"{s}-{n}msgs" for s, n in shapes_sizes]}


def time_operation(benchmark: Any, session: Session, operation: Operation, rounds: int) -> None:
    """Time ``operation`` on the session over ``rounds`` calls; check what memmark returned."""
    side = session.side
    setup: Callable[[], None] | None = None
    if operation.setup is not None:
        prepare = operation.setup

        def setup() -> None:
            session.run(prepare(side))

    result = benchmark.pedantic(
        lambda: session.run(operation.call(side)), setup=setup, rounds=rounds
    )
    if operation.finish is not None:
        session.run(operation.finish(side))
    if operation.expect is not None:
        assert outcome(result) == operation.expect(side.size), operation.name
    assert session.run(side.memory.size()) == side.size  # the session is as it was filled
