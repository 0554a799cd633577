"""Agent-turn rows of the comparison: one ReActAgent turn's memory calls, per backend.

``memmark.agentscope`` against AgentScope's own memories, on every backend
AgentScope has one for (``benchmarks/agent_turn.py`` says what a turn is and
how the seam is measured). A row's peer and memmark columns are µs per turn;
its note gives the adapter's share: the part of memmark's turn spent outside
memmark's backend (converting messages, normalising marks, forwarding).
Agent turns are agent-shaped whatever the pass: the rows come with the
agent-shaped corpus only.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks import agent_turn
from benchmarks.compare.timing import Config, Row, Table, progress

OPERATION = "agent turn (ReActAgent's calls)"


async def run(table: Table, cfg: Config, backends: tuple[str, ...] = agent_turn.BACKENDS) -> None:
    """Measure an agent turn on each of ``backends`` (table ids), one row each."""
    if cfg.corpus.shape != "agent":
        progress(f"agent turns: skipped for the {cfg.corpus.shape} corpus (agent-shaped only)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            progress(f"{backend}: {cfg.rounds} agent turns on a {cfg.messages}-message session")
            result = await agent_turn.measure(
                backend, cfg.messages, cfg.rounds, cfg.corpus, Path(tmp)
            )
            note = f"adapter {result.conversion_us:,.1f} µs, {result.share:.1f} % of memmark's turn"
            table.add(
                Row(OPERATION, backend, cfg.corpus.shape, result.peer_us, result.memmark_us, note)
            )
