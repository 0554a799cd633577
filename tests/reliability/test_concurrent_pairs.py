"""Guarantee 8: any two operations on one session at once end as one of their serial orders.

For each pair of operations (every one of the contract, with the forms of
``update_messages_mark``, ``delete_session`` and ``version``), each round
puts the session in a known state, runs the first operation in one process
and the second in another, released together by a barrier, and compares the
final state and both return values with the two serial orders run on the
in-process memory. A read must return the state before the other call or
after it. The in-process memory has no
second process, so it is not run here.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from tests.reliability.harness.figures import record
from tests.reliability.harness.known_bugs import known_race
from tests.reliability.harness.pairs import (
    OPS,
    SESSION,
    Pair,
    final_state,
    serial_outcomes,
    start_state,
)
from tests.reliability.harness.sizes import Size, sizes
from tests.reliability.harness.store import Store

NAMES = list(OPS)

RACES = [("add_marked", "remark_replace"), ("add_marked", "clear"), ("add_marked", "import_state")]
"""The pairs that race on some SQL databases today (see known_bugs), run in every size."""


SESSION_PAIRS = [("delete_session", name) for name in NAMES if name != "delete_session"] + [
    ("delete_session", "delete_session")
]
"""Deleting the session beside every operation, run in every size: the cache of the other
process must never serve the deleted session, nor a write land half in it."""


V2_WRITES = ("upsert", "pop", "session_state", "batch")
V2_PAIRS = [
    (new, name)
    for i, new in enumerate(V2_WRITES)
    for name in NAMES
    if name not in V2_WRITES[:i] and name != "delete_session"
]
"""Contract v2's writes beside every operation (the session pairs have delete_session),
run in every size: a batch or an upsert must land whole beside anything."""


def reduced_pairs() -> list[tuple[str, str]]:
    """Each operation beside the next of :data:`OPS` (each in two pairs), and the lists above."""
    ring = [(NAMES[i], NAMES[(i + 1) % len(NAMES)]) for i in range(len(NAMES))]
    seen = set(ring)
    extra = []
    for pair in RACES + SESSION_PAIRS + V2_PAIRS:
        if pair not in seen and pair[::-1] not in seen:
            seen.add(pair)
            extra.append(pair)
    return ring + extra


def all_pairs() -> list[tuple[str, str]]:
    """Every unordered pair of operations, an operation with itself included."""
    return list(itertools.combinations_with_replacement(NAMES, 2))


def check_name(a: str, b: str) -> str:
    """The known-race check of a pair (its names sorted)."""
    return "pairs:" + "+".join(sorted((a, b)))


@sizes(ci={"pairs": "reduced", "rounds": 4}, full={"pairs": "all", "rounds": 25})
async def test_concurrent_pairs(store: Store, size: Size) -> None:
    if not store.backend.shared:
        pytest.skip("one process only: no second process can open the session")
    pairs = reduced_pairs() if size["pairs"] == "reduced" else all_pairs()
    expected = {pair: await serial_outcomes(*pair) for pair in pairs}
    memory = await store.make("u", SESSION)
    started = time.perf_counter()
    pair_runner = await asyncio.to_thread(Pair, store.backend, store.tag)
    violations: dict[str, int] = {}
    known: dict[str, int] = {}
    errors: list[str] = []
    examples: list[str] = []
    rounds = 0
    try:
        for _ in range(size["rounds"]):
            for a, b in pairs:
                await memory.import_state(start_state())
                first, second = await asyncio.to_thread(pair_runner.run, a, b)
                rounds += 1
                if first[0] != "ok" or second[0] != "ok":
                    errors += [str(r[1]) for r in (first, second) if r[0] != "ok"]
                    continue
                final = await final_state(memory)
                got: Any = (final, first[1], second[1])
                if got in expected[(a, b)]:
                    continue
                check = check_name(a, b)
                tally = known if known_race(check, store.backend.id) else violations
                tally[check] = tally.get(check, 0) + 1
                if tally[check] == 1:  # the first of each pair
                    examples.append(
                        f"{a} ‖ {b}: state {final}, returned {first[1]!r}, {second[1]!r}"
                    )
    finally:
        await asyncio.to_thread(pair_runner.close)
    row = record(
        "pairs",
        store.backend.id,
        size.name,
        operations=len(OPS),
        pairs=len(pairs),
        rounds=rounds,
        violations=sum(violations.values()),
        known_races=sum(known.values()),
        by_pair={**violations, **known},
        errors=len(errors),
        seconds=round(time.perf_counter() - started, 1),
        examples=examples + errors[:3],
    )
    assert errors == [], row["examples"]
    assert violations == {}, row["examples"]
    if known:
        pytest.xfail(
            "known races: "
            + "; ".join(f"{c} ({known_race(c, store.backend.id)})" for c in sorted(known))
        )
