"""benchmarks/agent_turn.py runs (tiny sizes, in process): it must not rot between figure runs."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_the_agent_turn_benchmark_measures_a_row() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import agent_turn
    finally:
        sys.path.remove(str(ROOT))
    (result,) = await agent_turn.run(["in-process"], messages=40, rounds=4)
    assert result.backend == "in-process"
    assert result.peer_us > 0
    assert result.memmark_us > 0
    assert 0 <= result.conversion_us < result.memmark_us
