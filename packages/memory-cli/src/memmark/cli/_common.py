"""What every command shares: running a coroutine, opening memories, clean errors."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from memmark.core import MemoryBase, MissingDependencyError, SessionInfo, connect
from memmark.core.urls import close_shared, mask_password

out = Console(highlight=False, soft_wrap=True)
"""Where results go (tables, JSON Lines)."""

if not out.is_terminal:
    # Piped or captured: no terminal to fit, so rows are not wrapped at 80 columns.
    out.width = 1000

err = Console(stderr=True, highlight=False, soft_wrap=True)
"""Where progress, notes and errors go, out of the results' way."""

PAGE = 100
"""Sessions asked per listing page."""

EXIT_FAILED = 1
"""A check failed: a copy whose counts differ, a doctor finding a fault, a server not reached."""

EXIT_USAGE = 2
"""The command cannot run as asked: bad arguments, a backend or driver not installed."""

_T = TypeVar("_T")


class CommandError(Exception):
    """A failure the command reports in one line, without a traceback.

    Args:
        message: What went wrong and, where known, what to do.
        code: The exit code.
    """

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``error: message`` on stderr and leave with ``code``."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a command's coroutine, then close the pools it opened; report errors cleanly.

    A missing backend or driver (``MissingDependencyError``, or an
    ``ImportError`` from a backend's entry point) and bad arguments leave
    with :data:`EXIT_USAGE`; any other error (a server not reached, say)
    with :data:`EXIT_FAILED`, in one line (``MEMMARK_TRACEBACK=1`` shows the
    traceback).
    """

    async def guarded() -> _T:
        try:
            return await coroutine
        finally:
            await close_shared()

    try:
        return asyncio.run(guarded())
    except CommandError as exc:
        fail(str(exc), exc.code)
    except MissingDependencyError as exc:
        fail(str(exc), EXIT_USAGE)
    except ImportError as exc:
        # A backend's entry point that does not import: its own dependency is missing.
        fail(f"a memmark backend does not import: {exc}", EXIT_USAGE)
    except (TypeError, ValueError) as exc:
        fail(str(exc), EXIT_USAGE)
    except Exception as exc:
        # A server not reached, refusing, timing out: one line, not a traceback
        # (MEMMARK_TRACEBACK=1 shows it).
        if os.environ.get("MEMMARK_TRACEBACK", "") not in ("", "0"):
            raise
        fail(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def parse_options(pairs: Iterable[str] | None) -> dict[str, Any]:
    """Return ``KEY=VALUE`` pairs as keyword options for :func:`memmark.core.connect`.

    A value that reads as JSON (``5``, ``2.5``, ``true``, ``null``) is taken as
    that value, anything else as a string.

    Raises:
        CommandError: A pair has no ``=`` (exit 2).
    """
    options: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--option: expected KEY=VALUE, got {pair!r}", EXIT_USAGE)
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


@asynccontextmanager
async def opened(
    url: str, user_id: str | None, session_id: str | None, options: dict[str, Any]
) -> AsyncIterator[MemoryBase]:
    """Open the memory of one pair on ``url``, closed on the way out (the pool stays)."""
    memory = connect(url, user_id=user_id, session_id=session_id, **options)
    try:
        yield memory
    finally:
        await memory.close()


async def walk_sessions(
    memory: MemoryBase, *, all_users: bool, limit: int | None = None
) -> AsyncIterator[SessionInfo]:
    """Yield the sessions of ``memory``'s store, page by page, at most ``limit`` of them.

    Args:
        memory: Any memory of the store (its user is the one listed unless ``all_users``).
        all_users: Every user's sessions.
        limit: The most to yield; ``None`` for all.
    """
    cursor: str | None = None
    seen = 0
    while limit is None or seen < limit:
        size = PAGE if limit is None else min(PAGE, limit - seen)
        page = await memory.list_sessions(all_users=all_users, limit=size, cursor=cursor)
        for info in page.sessions:
            yield info
        seen += len(page.sessions)
        cursor = page.next_cursor
        if cursor is None:
            return


async def each(
    items: Iterable[tuple[str, str, int | None]],
    jobs: int,
    work: Callable[[str, str, int | None], Awaitable[None]],
) -> None:
    """Run ``work(*item)`` for every item, at most ``jobs`` at once.

    Each session's own calls stay in order; only different sessions overlap.
    The first error stops the run (the other workers are cancelled).
    """
    queue = iter(items)

    async def worker() -> None:
        for item in queue:  # one iterator shared: each item is taken once
            await work(*item)

    workers = [asyncio.ensure_future(worker()) for _ in range(max(1, jobs))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def shown(url: str) -> str:
    """Return ``url`` fit to print: its password masked."""
    return mask_password(url)
