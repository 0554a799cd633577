"""benchmarks/agent_turn.py runs (tiny sizes, in process): it must not rot between figure runs."""

from __future__ import annotations

from benchmarks import agent_turn


async def test_the_agent_turn_benchmark_measures_a_row() -> None:
    (result,) = await agent_turn.run(["in-memory"], messages=40, rounds=4)
    assert result.backend == "in-memory"
    assert result.peer_us > 0
    assert result.memmark_us > 0
    assert 0 <= result.conversion_us < result.memmark_us
