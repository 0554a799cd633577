"""Messages, snapshots and a kept event loop, as the reliability tests use them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

from memmark.core import MemoryBase, Msg

T = TypeVar("T")


def message(content: str, msg_id: str | None = None, **kwargs: Any) -> Msg:
    """Return a user message, with ``msg_id`` as its id when given."""
    m = Msg("rel", content, "user", **kwargs)
    if msg_id is not None:
        m.id = msg_id
    return m


async def snapshot(memory: MemoryBase) -> dict[str, Any]:
    """Return the session as ``export_state`` gives it, the summary included."""
    return await memory.export_state()


class LoopRunner:
    """One event loop kept across synchronous calls (Hypothesis examples run sync).

    Python 3.10 has no ``asyncio.Runner``; this is the small part of it the
    property tests need.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, aw: Awaitable[T]) -> T:
        """Run ``aw`` to completion on the kept loop."""
        return self.loop.run_until_complete(aw)

    def close(self) -> None:
        """Finish async generators and close the loop."""
        try:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


@contextlib.contextmanager
def loop_runner() -> Iterator[LoopRunner]:
    """Yield a :class:`LoopRunner`, closed afterwards."""
    runner = LoopRunner()
    try:
        yield runner
    finally:
        runner.close()
