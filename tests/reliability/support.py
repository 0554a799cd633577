"""Small shared pieces of the reliability tests: sizes, messages, snapshots."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import pytest
from reliability.backends import BACKENDS, Backend, importable, resolve
from servers import require_server

from memmark.core import MemoryBase, Msg

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Size:
    """The parameters of one run: ``ci`` (reduced, unmarked) or ``full`` (slow)."""

    name: str
    values: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


def sizes(ci: dict[str, Any], full: dict[str, Any]) -> Callable[[F], F]:
    """Return a ``parametrize`` decorator over the reduced and the full run.

    The full run carries the ``slow`` marker, so the default selection runs
    only the reduced one. ``MEMMARK_RELIABILITY_SIZE=full`` (or ``ci``), as
    the runner sets it, keeps only that size.
    """
    only = os.environ.get("MEMMARK_RELIABILITY_SIZE", "")
    params = [
        pytest.param(Size("ci", ci), id="ci"),
        pytest.param(Size("full", full), id="full", marks=pytest.mark.slow),
    ]
    mark = pytest.mark.parametrize("size", [p for p in params if only in ("", p.id)])
    return cast("Callable[[F], F]", mark)


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


def usable(request: pytest.FixtureRequest, backend: Backend) -> Backend:
    """Return ``backend`` resolved, or skip (fail under CI) when it cannot run here."""
    why = importable(backend)
    if why is not None:
        # A backend package still being written is not a missing server:
        # skip even under MEMMARK_REQUIRE_SERVERS, with the reason.
        pytest.skip(why)
    if backend.server:
        require_server(backend.server, backend.url)
    if backend.name == "cluster":
        return resolve(backend, request.getfixturevalue("reliability_cluster"))
    return resolve(backend)


def backend_params(*names: str) -> list[Any]:
    """``pytest.param`` rows of the backend table (only ``names`` when given), with markers."""
    return [
        pytest.param(b, id=b.name, marks=[getattr(pytest.mark, m) for m in b.marks])
        for b in BACKENDS
        if not names or b.name in names
    ]
