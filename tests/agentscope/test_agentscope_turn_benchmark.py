"""The agent-turn benchmark runs (tiny sizes, in process): it must not rot between figure runs."""

from __future__ import annotations

import re

from benchmarks import agent_turn
from benchmarks.compare import agent
from benchmarks.compare.timing import Config, Table
from benchmarks.corpus import Corpus


async def test_the_agent_turn_benchmark_measures_a_row() -> None:
    (result,) = await agent_turn.run(["in-memory"], messages=40, rounds=4)
    assert result.backend == "in-memory"
    assert result.peer_us > 0
    assert result.memmark_us > 0
    assert 0 <= result.conversion_us < result.memmark_us


async def test_the_comparison_has_an_agent_turn_row_per_backend() -> None:
    table = Table()
    await agent.run(table, Config(messages=40, rounds=2), backends=("in-memory",))
    (row,) = table.rows
    assert (row.operation, row.backend, row.shape) == (agent.OPERATION, "in-memory", "agent")
    assert row.peer_us is not None
    assert row.peer_us > 0
    assert row.memmark_us > 0
    assert re.fullmatch(r"adapter [\d,.]+ µs, [\d.]+ % of memmark's turn", row.note), row.note


async def test_the_agent_turn_rows_come_with_the_agent_shaped_corpus_only() -> None:
    table = Table()
    await agent.run(table, Config(messages=40, rounds=2, corpus=Corpus("plain")))
    assert table.rows == []
