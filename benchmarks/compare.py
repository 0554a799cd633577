"""memmark side by side with the peer it replaces, and with raw-client floors.

Runs the same operations, in one process, on memmark and on AgentScope
1.0.21's ``agentscope.memory`` (installed only for this run), interleaved
round by round, and prints a table: operation, backend, peer µs, memmark µs,
ratio (peer / memmark: above 1 means memmark is faster). Floors are rows with
no peer: the cost of the bare client doing the same work.

Usage::

    uv run --with 'agentscope[redis_memory]==1.0.21' --with 'mcp==1.25.0' \\
        --with 'pydantic<2.13' --with tqdm --with greenlet \\
        python benchmarks/compare.py [--only core,sql,redis] [--messages 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _harness import Config, Table

SECTIONS = ("core", "sql", "redis")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma separated")
    parser.add_argument("--messages", type=int, default=1000, help="messages per session")
    parser.add_argument("--payload", type=int, default=200, help="bytes of content per message")
    parser.add_argument("--rounds", type=int, default=200, help="timed calls per operation")
    args = parser.parse_args()
    sections = [s for s in args.only.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))} (known: {SECTIONS})")
    try:
        import agentscope  # noqa: F401
    except ImportError:
        parser.error("the peer is not installed: run through `uv run --with 'agentscope...'`")

    cfg = Config(messages=args.messages, payload_bytes=args.payload, rounds=args.rounds)
    table = Table()
    print(
        f"# {args.messages} messages of {args.payload} bytes, median of {args.rounds} calls; "
        f"Python {platform.python_version()}, peer agentscope {agentscope_version()}"
    )
    print(table.header())
    started = time.perf_counter()
    for name in sections:
        module = importlib.import_module(f"compare_{name}")
        await module.run(table, cfg)
    print(f"\n# {len(table.rows)} rows in {time.perf_counter() - started:.0f} s")
    return 0


def agentscope_version() -> str:
    from importlib.metadata import version

    return version("agentscope")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
