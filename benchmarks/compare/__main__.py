"""memmark side by side with the peer it replaces, and with raw-client floors.

Runs the operations of ``benchmarks/operations.py``, in one process, on
memmark and on AgentScope 1.0.21's ``agentscope.memory`` (in the workspace's
dev group), interleaved call by call, and prints a table per corpus shape
(``benchmarks/corpus.py``; agent-shaped messages are the headline):
operation, backend, peer µs, memmark µs, ratio (peer / memmark: above 1
means memmark is faster). The ``agent`` section adds a row per backend for
one ReActAgent turn (``benchmarks/agent_turn.py``): ``memmark.agentscope``
against AgentScope's memories, µs per turn, with the adapter's share of
memmark's time in the note. Floors are rows with no peer: the cost of the bare
client doing the same work. Servers come from the backend table
(``tests/backends.py``).

Usage, from the repository root::

    uv run python -m benchmarks.compare [--only core,sql,sql-stale,redis,agent]
        [--shape agent|plain|both] [--messages 1000] [--rounds 200] [--json rows.json]

From code: ``await benchmarks.compare.measure(...)`` returns the table
(``.rows``); ``benchmarks.plot`` draws the rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from benchmarks.compare import SECTIONS, measure, write_rows
from benchmarks.corpus import SHAPES, Corpus


async def main() -> int:
    """Parse the arguments, run the sections for each shape, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma separated")
    parser.add_argument(
        "--shape", choices=(*SHAPES, "both"), default="both", help="corpus shape (default: both)"
    )
    parser.add_argument("--messages", type=int, default=1000, help="messages per session")
    parser.add_argument("--payload", type=int, default=200, help="characters of a plain message")
    parser.add_argument("--rounds", type=int, default=200, help="timed calls per operation")
    parser.add_argument("--json", type=Path, help="also write the rows there (for benchmarks.plot)")
    args = parser.parse_args()
    sections = [s for s in args.only.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))} (known: {list(SECTIONS)})")
    try:
        import agentscope  # noqa: F401
    except ImportError:
        parser.error("the peer is not installed: run through `uv run --with 'agentscope...'`")

    shapes = SHAPES if args.shape == "both" else (args.shape,)
    started = time.perf_counter()
    table = await measure(sections, shapes, args.messages, args.rounds, args.payload)
    if len(shapes) > 1:
        for shape in shapes:
            print(f"\n## {Corpus(shape, payload=args.payload).label()}\n")
            print(table.by_shape(shape))
    print(f"\n# {len(table.rows)} rows in {time.perf_counter() - started:.0f} s")
    if args.json is not None:
        write_rows(table.rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
