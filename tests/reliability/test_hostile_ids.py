"""Guarantee 5: ids users hand in never make two pairs meet, and bad ids fail early.

A corpus of hostile strings is tried pairwise as user and session ids, and
as message ids and marks inside each pair. Every pair writes one message
naming itself; then every pair reads: a message naming another pair is a
leak. An id the store cannot hold must be refused with a ``ValueError`` or
``TypeError`` raised before any driver code runs (no driver frame in the
traceback), and must leave nothing behind.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections import Counter
from typing import Any

import pytest

from memmark.core import MemoryBase
from memmark.core.testing import COLLIDING_PAIRS, HOSTILE_IDS
from tests.reliability.harness.figures import record
from tests.reliability.harness.known_bugs import expect_known_bug
from tests.reliability.harness.session import message
from tests.reliability.harness.sizes import Size, sizes
from tests.reliability.harness.store import Store

EXTRA: tuple[str, ...] = (
    "",
    " ",
    "  ",
    "\n",
    "\r\n",
    "\u00a0",  # no-break space
    "\u200b",  # zero-width space
    "\ufeff",  # byte order mark
    "a\u0000",
    "%_",
    "a%b_c",
    "*?[]",
    "{}",
    "}{a",
    "\\\\",
)
CORPUS: tuple[str, ...] = tuple(dict.fromkeys((*HOSTILE_IDS, *EXTRA)))
# The reduced run keeps one of each family, the naive-join collisions included.
REDUCED: tuple[str, ...] = (
    "a",
    "A",
    "a ",
    "",
    " ",
    "a:b",
    "{a}",
    "}{",
    "*",
    "%",
    "_",
    "\\",
    "é",
    "e\u0301",
    "a\r\n",
    "\x00",
    "x" * 10_000,
)
# Lone surrogates are valid Python strings but not encodable as UTF-8.
SURROGATES: tuple[str, ...] = ("\ud800", "a\udfff", "\udc80x")

# Code that talks to a server; a serializer such as msgpack is not I/O.
DRIVERS = ("sqlalchemy", "asyncpg", "asyncmy", "aiosqlite", "redis", "sqlite3")


def _driver_frames(exc: BaseException) -> list[str]:
    """Return the driver modules the exception passed through (empty: raised before I/O)."""
    frames = traceback.extract_tb(exc.__traceback__)
    hit = []
    for frame in frames:
        path = frame.filename.replace("\\", "/")
        hit += [d for d in DRIVERS if f"-packages/{d}/" in path or path.endswith(f"/{d}.py")]
    return hit


def _tag(user: str, session: str) -> str:
    # The content names its pair by index-free repr, so a leak is recognised
    # whatever the ids hold.
    return f"{user!r}|{session!r}"


class Outcome:
    """What the hostile-id run saw on one backend."""

    def __init__(self) -> None:
        self.pairs = 0
        self.leaks: list[str] = []
        self.refused: Counter[str] = Counter()
        self.refused_late: list[str] = []
        self.unclear: list[str] = []


async def _write(
    store: Store, user: str, session: str, msg_id: str, mark: str, out: Outcome
) -> Any:
    try:
        memory = await store.make(user, session, raw_ids=True)
        await memory.clear()  # a crashed earlier run may have left this pair behind
        await memory.add(message(_tag(user, session), msg_id), mark)
        await memory.update_messages_mark(mark + "-2", old_mark=mark, msg_ids=[msg_id])
        await memory.update_messages_mark(mark, old_mark=mark + "-2")
        return memory
    except (ValueError, TypeError) as exc:
        drivers = _driver_frames(exc)
        what = f"{type(exc).__name__}: {str(exc)[:90]}"
        if drivers:
            out.refused_late.append(f"{what} (through {', '.join(sorted(set(drivers)))})")
        else:
            out.refused[what.split(":")[0] + ": " + _reason(str(exc))] += 1
        return None
    except Exception as exc:
        out.unclear.append(f"{type(exc).__name__}: {str(exc)[:160]}")
        return None


def _reason(text: str) -> str:
    # Collapse the message to its kind, so the figures group refusals.
    for word in ("NUL", "surrogate", "encod", "too long", "long", "empty"):
        if word.lower() in text.lower():
            return word
    return text[:40]


async def _check(
    memory: MemoryBase, user: str, session: str, msg_id: str, mark: str, out: Outcome
) -> None:
    got = await memory.get_memory()
    by_mark = await memory.get_memory(mark=mark)
    want = _tag(user, session)
    for m in [*got, *by_mark]:
        if m.content != want:
            out.leaks.append(f"{want[:60]} saw {str(m.content)[:60]}")
    if [m.id for m in got] != [msg_id] or [m.id for m in by_mark] != [msg_id]:
        out.leaks.append(f"{want[:60]} read {[m.id[:20] for m in got]} / by mark {len(by_mark)}")


async def _pairwise(store: Store, ids: tuple[str, ...], out: Outcome, parallel: int) -> None:
    n = len(ids)
    plan: list[tuple[str, str, str, str]] = []
    for i, user in enumerate(ids):
        for j, session in enumerate(ids):
            # Message ids and marks cycle through the corpus too, so the same
            # message id and mark live in many pairs at once.
            plan.append((user, session, ids[(i + j) % n], ids[(3 * i + j + 1) % n] or "m"))
    written: list[tuple[MemoryBase, tuple[str, str, str, str]]] = []
    gate = asyncio.Semaphore(parallel)

    async def one(row: tuple[str, str, str, str]) -> None:
        async with gate:
            memory = await _write(store, *row, out)
            if memory is not None:
                written.append((memory, row))

    await asyncio.gather(*(one(row) for row in plan))
    out.pairs = len(plan)

    async def check(item: tuple[MemoryBase, tuple[str, str, str, str]]) -> None:
        async with gate:
            await _check(item[0], *item[1], out)

    await asyncio.gather(*(check(item) for item in written))


@sizes(ci={"ids": REDUCED, "parallel": 16}, full={"ids": CORPUS, "parallel": 32})
async def test_pairwise_hostile_ids(store: Store, size: Size) -> None:
    out = Outcome()
    started = time.perf_counter()
    await _pairwise(store, size["ids"], out, size["parallel"])
    seconds = time.perf_counter() - started
    record(
        "hostile_ids",
        store.backend.id,
        size.name,
        ids=len(size["ids"]),
        pairs=out.pairs,
        leaks=len(out.leaks),
        refused_before_io=dict(out.refused),
        refused_late=len(out.refused_late),
        unclear_errors=len(out.unclear),
        examples=(out.leaks + out.refused_late + out.unclear)[:5],
        seconds=round(seconds, 2),
    )
    assert out.leaks == []
    assert out.refused_late == []
    assert out.unclear == []


@pytest.mark.parametrize("pair", COLLIDING_PAIRS, ids=repr)
async def test_colliding_joins_stay_apart(store: Store, pair: tuple[str, str]) -> None:
    """Pairs whose naive ``user:session`` joins are equal, written and read one after another."""
    user, session = pair
    other = (user + session[:1], session[1:]) if session else (user[:-1], user[-1:] + session)
    a = await store.make(user, session, raw_ids=True)
    b = await store.make(*other, raw_ids=True)
    await a.clear()
    await b.clear()
    await a.add(message("A", "same-id"), "same-mark")
    await b.add(message("B", "same-id"), "same-mark")
    assert [m.content for m in await a.get_memory(mark="same-mark")] == ["A"]
    assert [m.content for m in await b.get_memory(mark="same-mark")] == ["B"]
    assert await a.delete_by_mark("same-mark") == 1
    assert [m.content for m in await b.get_memory()] == ["B"]


async def _write_then_check(
    store: Store, rows: list[tuple[str, str, str, str]], out: Outcome
) -> list[tuple[MemoryBase, tuple[str, str, str, str]]]:
    """Write every row (user, session, message id, mark), then read each back; return those kept."""
    written: list[tuple[MemoryBase, tuple[str, str, str, str]]] = []
    for row in rows:
        memory = await _write(store, *row, out)
        if memory is not None:
            written.append((memory, row))
    for memory, row in written:
        await _check(memory, *row, out)
    return written


@sizes(ci={"mb": 1}, full={"mb": 1})
async def test_megabyte_ids(store: Store, size: Size) -> None:
    """A 1 MB id as user, session, message id and mark: kept apart, or refused before I/O."""
    big = "y" * (size["mb"] << 20)
    out = Outcome()
    rows = [
        (big, "s", "m1", "k"),
        (big[:-1], "ys", "m1", "k"),  # the same bytes, split differently
        ("u", big, big, big),
        ("u", big + "z", big, big + "z"),
    ]
    await _write_then_check(store, rows, out)
    record(
        "hostile_ids_1mb",
        store.backend.id,
        size.name,
        pairs=len(rows),
        leaks=len(out.leaks),
        refused_before_io=dict(out.refused),
        refused_late=len(out.refused_late),
        unclear_errors=len(out.unclear),
        examples=(out.leaks + out.refused_late + out.unclear)[:3],
    )
    assert out.leaks == []
    assert out.refused_late == []
    assert out.unclear == []


@pytest.mark.parametrize("bad", SURROGATES, ids=ascii)
async def test_unencodable_ids(store: Store, bad: str, request: pytest.FixtureRequest) -> None:
    """A lone surrogate as user, session, message id or mark: kept apart, or refused before I/O."""
    expect_known_bug(request, "surrogate-ids", store.backend.id)
    out = Outcome()
    rows = [(bad, "s", "m", "k"), ("u", bad, "m", "k"), ("u", "s", bad, "k"), ("u", "s2", "m", bad)]
    written = await _write_then_check(store, rows, out)
    record(
        "hostile_ids_surrogates",
        store.backend.id,
        "ci",
        id=ascii(bad),
        pairs=len(rows),
        stored=len(written),
        leaks=len(out.leaks),
        refused_before_io=dict(out.refused),
        refused_late=len(out.refused_late),
        unclear_errors=len(out.unclear),
        examples=(out.leaks + out.refused_late + out.unclear)[:3],
    )
    assert out.leaks == []
    assert out.refused_late == []
    assert out.unclear == []
